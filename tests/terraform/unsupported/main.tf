# Resources whose features Portico does not serve, as the provider's documentation writes them:
# each create must fail with AWS's error shape and a message saying so.

resource "aws_api_gateway_client_certificate" "demo" {
  description = "My client certificate"
}

resource "aws_api_gateway_rest_api" "docs" {
  name = "documented"
}

resource "aws_api_gateway_documentation_part" "example" {
  location {
    type   = "METHOD"
    method = "GET"
    path   = "/example"
  }

  properties  = jsonencode({ description = "Example description" })
  rest_api_id = aws_api_gateway_rest_api.docs.id
}

resource "aws_apigatewayv2_api" "ws" {
  name                       = "example-websocket-api"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_model" "example" {
  api_id       = aws_apigatewayv2_api.ws.id
  content_type = "application/json"
  name         = "example"

  schema = jsonencode({
    "$schema" = "http://json-schema.org/draft-04/schema#"
    title     = "ExampleModel"
    type      = "object"
    properties = {
      id = { type = "string" }
    }
  })
}

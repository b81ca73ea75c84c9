# An HTTP API as the provider's documentation writes one: CORS, a JWT authorizer, routes to an
# HTTP_PROXY integration, and an auto-deploying throttled $default stage; a VPC link; read back
# through the data sources.

variable "upstream_url" {
  type = string
}

variable "jwt_issuer" {
  type = string
}

resource "aws_apigatewayv2_api" "example" {
  name          = "example-http-api"
  protocol_type = "HTTP"
  description   = "Terraform's HTTP API"

  cors_configuration {
    allow_origins = ["https://example.com"]
    allow_methods = ["GET", "POST"]
    allow_headers = ["content-type", "authorization"]
    max_age       = 300
  }

  tags = {
    team = "platform"
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.example.id
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  name             = "example-authorizer"

  jwt_configuration {
    audience = ["example"]
    issuer   = var.jwt_issuer
  }
}

resource "aws_apigatewayv2_integration" "upstream" {
  api_id             = aws_apigatewayv2_api.example.id
  integration_type   = "HTTP_PROXY"
  integration_method = "ANY"
  integration_uri    = "${var.upstream_url}/{proxy}"
}

resource "aws_apigatewayv2_integration" "items" {
  api_id                 = aws_apigatewayv2_api.example.id
  integration_type       = "HTTP_PROXY"
  integration_method     = "GET"
  integration_uri        = "${var.upstream_url}/items"
  payload_format_version = "1.0"
  timeout_milliseconds   = 10000

  request_parameters = {
    "append:header.x-from" = "terraform"
  }
}

resource "aws_apigatewayv2_route" "items" {
  api_id    = aws_apigatewayv2_api.example.id
  route_key = "GET /items"
  target    = "integrations/${aws_apigatewayv2_integration.items.id}"
}

resource "aws_apigatewayv2_route" "secret" {
  api_id             = aws_apigatewayv2_api.example.id
  route_key          = "GET /secret"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
  target             = "integrations/${aws_apigatewayv2_integration.upstream.id}"
}

resource "aws_apigatewayv2_route" "proxy" {
  api_id    = aws_apigatewayv2_api.example.id
  route_key = "ANY /open/{proxy+}"
  target    = "integrations/${aws_apigatewayv2_integration.upstream.id}"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.example.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = 100
    throttling_rate_limit  = 50
  }

  route_settings {
    route_key              = aws_apigatewayv2_route.items.route_key
    throttling_burst_limit = 10
    throttling_rate_limit  = 5
  }

  stage_variables = {
    env = "test"
  }
}

resource "aws_apigatewayv2_stage" "manual" {
  api_id        = aws_apigatewayv2_api.example.id
  name          = "manual"
  deployment_id = aws_apigatewayv2_deployment.manual.id
}

resource "aws_apigatewayv2_deployment" "manual" {
  api_id      = aws_apigatewayv2_api.example.id
  description = "Example deployment"

  # The ids and the attributes that change what is served. (Hashing whole resources with
  # jsonencode, as one documentation example does, replaces the deployment once on the next
  # plan against AWS too: the provider reads unset lists and maps back as empty ones.)
  triggers = {
    redeployment = sha1(jsonencode([
      aws_apigatewayv2_integration.upstream.id,
      aws_apigatewayv2_integration.upstream.integration_uri,
      aws_apigatewayv2_route.proxy.id,
      aws_apigatewayv2_route.items.id,
      aws_apigatewayv2_route.secret.id,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_apigatewayv2_vpc_link" "example" {
  name               = "example"
  security_group_ids = ["sg-0123456789abcdef0"]
  subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]

  tags = {
    Usage = "example"
  }
}

data "aws_apigatewayv2_api" "example" {
  api_id = aws_apigatewayv2_api.example.id
}

data "aws_apigatewayv2_apis" "http" {
  protocol_type = "HTTP"
  depends_on    = [aws_apigatewayv2_api.example]
}

output "api_id" {
  value = aws_apigatewayv2_api.example.id
}

output "data_api_name" {
  value = data.aws_apigatewayv2_api.example.name
}

output "data_apis_ids" {
  value = data.aws_apigatewayv2_apis.http.ids
}

# A custom domain name on an imported certificate, mapped to the $default stage.
resource "aws_apigatewayv2_domain_name" "example" {
  domain_name = var.domain_name

  domain_name_configuration {
    certificate_arn = aws_acm_certificate.example.arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "example" {
  api_id          = aws_apigatewayv2_api.example.id
  domain_name     = aws_apigatewayv2_domain_name.example.id
  stage           = aws_apigatewayv2_stage.default.id
  api_mapping_key = "v1"
}

# A WebSocket API with a two-way route: route and integration responses.
resource "aws_apigatewayv2_api" "chat" {
  name                       = "example-websocket-api"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_integration" "echo" {
  api_id                        = aws_apigatewayv2_api.chat.id
  integration_type              = "MOCK"
  template_selection_expression = "200"

  request_templates = {
    "200" = "{\"statusCode\": 200}"
  }
}

resource "aws_apigatewayv2_integration_response" "echo" {
  api_id                   = aws_apigatewayv2_api.chat.id
  integration_id           = aws_apigatewayv2_integration.echo.id
  integration_response_key = "/200/"

  response_templates = {
    "200" = "{\"echo\": true}"
  }
  template_selection_expression = "200"
}

resource "aws_apigatewayv2_route" "echo" {
  api_id                              = aws_apigatewayv2_api.chat.id
  route_key                           = "echo"
  target                              = "integrations/${aws_apigatewayv2_integration.echo.id}"
  route_response_selection_expression = "$default"
}

resource "aws_apigatewayv2_route_response" "echo" {
  api_id             = aws_apigatewayv2_api.chat.id
  route_id           = aws_apigatewayv2_route.echo.id
  route_response_key = "$default"
}

resource "aws_apigatewayv2_stage" "chat" {
  api_id      = aws_apigatewayv2_api.chat.id
  name        = "live"
  auto_deploy = true
}

output "chat_api_id" {
  value = aws_apigatewayv2_api.chat.id
}

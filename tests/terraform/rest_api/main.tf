# A REST API as the provider's documentation writes one: resources, methods, HTTP_PROXY and MOCK
# integrations, method and integration responses, a deployment with a separate stage, method
# settings, a model and request validator, an authorizer, a gateway response, an API key without a
# value, a usage plan and key, a VPC link, the account; read back through the data sources.

variable "upstream_url" {
  type = string
}

variable "upstream_authority" {
  type = string
}

resource "aws_api_gateway_rest_api" "example" {
  name        = "example-rest-api"
  description = "Terraform's REST API"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = {
    team = "platform"
  }
}

resource "aws_api_gateway_resource" "items" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  parent_id   = aws_api_gateway_rest_api.example.root_resource_id
  path_part   = "items"
}

resource "aws_api_gateway_resource" "item" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  parent_id   = aws_api_gateway_resource.items.id
  path_part   = "{id}"
}

resource "aws_api_gateway_resource" "mock" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  parent_id   = aws_api_gateway_rest_api.example.root_resource_id
  path_part   = "mock"
}

resource "aws_api_gateway_method" "items_get" {
  rest_api_id      = aws_api_gateway_rest_api.example.id
  resource_id      = aws_api_gateway_resource.items.id
  http_method      = "GET"
  authorization    = "NONE"
  api_key_required = true
}

resource "aws_api_gateway_integration" "items_get" {
  rest_api_id             = aws_api_gateway_rest_api.example.id
  resource_id             = aws_api_gateway_resource.items.id
  http_method             = aws_api_gateway_method.items_get.http_method
  integration_http_method = "GET"
  type                    = "HTTP_PROXY"
  uri                     = "${var.upstream_url}/items"
}

resource "aws_api_gateway_model" "item" {
  rest_api_id  = aws_api_gateway_rest_api.example.id
  name         = "Item"
  description  = "an item"
  content_type = "application/json"

  schema = jsonencode({
    type     = "object"
    required = ["name"]
    properties = {
      name = { type = "string" }
    }
  })
}

resource "aws_api_gateway_request_validator" "body" {
  name                        = "body"
  rest_api_id                 = aws_api_gateway_rest_api.example.id
  validate_request_body       = true
  validate_request_parameters = false
}

resource "aws_api_gateway_method" "item_put" {
  rest_api_id          = aws_api_gateway_rest_api.example.id
  resource_id          = aws_api_gateway_resource.item.id
  http_method          = "PUT"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.body.id

  request_models = {
    "application/json" = aws_api_gateway_model.item.name
  }

  request_parameters = {
    "method.request.path.id" = true
  }
}

resource "aws_api_gateway_integration" "item_put" {
  rest_api_id             = aws_api_gateway_rest_api.example.id
  resource_id             = aws_api_gateway_resource.item.id
  http_method             = aws_api_gateway_method.item_put.http_method
  integration_http_method = "PUT"
  type                    = "HTTP_PROXY"
  uri                     = "${var.upstream_url}/items/{id}"

  request_parameters = {
    "integration.request.path.id" = "method.request.path.id"
  }
}

resource "aws_api_gateway_method" "mock_get" {
  rest_api_id   = aws_api_gateway_rest_api.example.id
  resource_id   = aws_api_gateway_resource.mock.id
  http_method   = "GET"
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "mock_get" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  resource_id = aws_api_gateway_resource.mock.id
  http_method = aws_api_gateway_method.mock_get.http_method
  type        = "MOCK"

  request_templates = {
    "application/json" = jsonencode({ statusCode = 200 })
  }
}

resource "aws_api_gateway_method_response" "mock_200" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  resource_id = aws_api_gateway_resource.mock.id
  http_method = aws_api_gateway_method.mock_get.http_method
  status_code = "200"

  response_models = {
    "application/json" = "Empty"
  }

  response_parameters = {
    "method.response.header.X-Mock" = true
  }
}

resource "aws_api_gateway_integration_response" "mock_200" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  resource_id = aws_api_gateway_resource.mock.id
  http_method = aws_api_gateway_method.mock_get.http_method
  status_code = aws_api_gateway_method_response.mock_200.status_code

  response_parameters = {
    "method.response.header.X-Mock" = "'yes'"
  }

  response_templates = {
    "application/json" = "{\"mocked\": true}"
  }

  depends_on = [aws_api_gateway_integration.mock_get]
}

resource "aws_api_gateway_authorizer" "token" {
  name                             = "token"
  rest_api_id                      = aws_api_gateway_rest_api.example.id
  authorizer_uri                   = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:authorizer/invocations"
  authorizer_result_ttl_in_seconds = 60
  identity_source                  = "method.request.header.Authorization"
}

resource "aws_api_gateway_gateway_response" "unauthorized" {
  rest_api_id   = aws_api_gateway_rest_api.example.id
  status_code   = "401"
  response_type = "UNAUTHORIZED"

  response_templates = {
    "application/json" = "{\"message\":$context.error.messageString}"
  }

  response_parameters = {
    "gatewayresponse.header.Authorization" = "'Basic'"
  }
}

resource "aws_api_gateway_deployment" "example" {
  rest_api_id = aws_api_gateway_rest_api.example.id

  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.items.id,
      aws_api_gateway_method.items_get.id,
      aws_api_gateway_integration.items_get.id,
      aws_api_gateway_method.item_put.id,
      aws_api_gateway_integration.item_put.id,
      aws_api_gateway_method.mock_get.id,
      aws_api_gateway_integration.mock_get.id,
      aws_api_gateway_integration_response.mock_200.id,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "example" {
  deployment_id = aws_api_gateway_deployment.example.id
  rest_api_id   = aws_api_gateway_rest_api.example.id
  stage_name    = "example"
  description   = "the example stage"

  variables = {
    env = "test"
  }
}

resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  stage_name  = aws_api_gateway_stage.example.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    throttling_burst_limit = 100
    throttling_rate_limit  = 50
  }
}

resource "aws_api_gateway_api_key" "example" {
  name = "example"
}

resource "aws_api_gateway_usage_plan" "example" {
  name        = "my-usage-plan"
  description = "my description"

  api_stages {
    api_id = aws_api_gateway_rest_api.example.id
    stage  = aws_api_gateway_stage.example.stage_name
  }

  quota_settings {
    limit  = 20
    offset = 2
    period = "WEEK"
  }

  throttle_settings {
    burst_limit = 5
    rate_limit  = 10
  }
}

resource "aws_api_gateway_usage_plan_key" "main" {
  key_id        = aws_api_gateway_api_key.example.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.example.id
}

resource "aws_api_gateway_vpc_link" "example" {
  name        = "example"
  description = "example description"
  target_arns = [var.upstream_authority]
}

data "aws_api_gateway_rest_api" "example" {
  name       = aws_api_gateway_rest_api.example.name
  depends_on = [aws_api_gateway_rest_api.example]
}

data "aws_api_gateway_resource" "item" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  path        = "/items/{id}"
  depends_on  = [aws_api_gateway_resource.item]
}

data "aws_api_gateway_api_key" "example" {
  id = aws_api_gateway_api_key.example.id
}

data "aws_api_gateway_vpc_link" "example" {
  name       = aws_api_gateway_vpc_link.example.name
  depends_on = [aws_api_gateway_vpc_link.example]
}

data "aws_api_gateway_authorizer" "token" {
  rest_api_id   = aws_api_gateway_rest_api.example.id
  authorizer_id = aws_api_gateway_authorizer.token.id
}

data "aws_api_gateway_authorizers" "all" {
  rest_api_id = aws_api_gateway_rest_api.example.id
  depends_on  = [aws_api_gateway_authorizer.token]
}

output "rest_api_id" {
  value = aws_api_gateway_rest_api.example.id
}

output "api_key_value" {
  value     = aws_api_gateway_api_key.example.value
  sensitive = true
}

output "data_key_value" {
  value     = data.aws_api_gateway_api_key.example.value
  sensitive = true
}

output "data_root_resource_id" {
  value = data.aws_api_gateway_rest_api.example.root_resource_id
}

output "data_item_resource_id" {
  value = data.aws_api_gateway_resource.item.id
}

output "data_authorizer_ids" {
  value = data.aws_api_gateway_authorizers.all.ids
}

# A custom domain name on an imported certificate, mapped to the stage.
resource "aws_api_gateway_domain_name" "example" {
  domain_name              = var.domain_name
  regional_certificate_arn = aws_acm_certificate.example.arn

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_base_path_mapping" "example" {
  api_id      = aws_api_gateway_rest_api.example.id
  stage_name  = aws_api_gateway_stage.example.stage_name
  domain_name = aws_api_gateway_domain_name.example.domain_name
  base_path   = "shop"
}

data "aws_api_gateway_domain_name" "example" {
  domain_name = aws_api_gateway_domain_name.example.domain_name
}

output "data_domain_certificate" {
  value = data.aws_api_gateway_domain_name.example.regional_certificate_arn
}

output "certificate_arn" {
  value = aws_acm_certificate.example.arn
}

# The account's settings: the CloudWatch role is stored and echoed; destroy clears it.
resource "aws_api_gateway_account" "demo" {
  cloudwatch_role_arn = "arn:aws:iam::000000000000:role/api-gateway-cloudwatch"
  reset_on_delete     = true
}

# A resource policy attached separately, as the provider's documentation shows.
resource "aws_api_gateway_rest_api_policy" "example" {
  rest_api_id = aws_api_gateway_rest_api.example.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = "execute-api:Invoke"
      # AWS's shorthand for this API's own ARN (execution_arn holds no account id here: the
      # provider block skips requesting it).
      Resource = "execute-api:/*"
    }]
  })
}

data "aws_api_gateway_api_keys" "all" {
  include_values = true
  depends_on     = [aws_api_gateway_api_key.example]
}

output "data_api_keys" {
  value     = data.aws_api_gateway_api_keys.all.items[*].id
  sensitive = false
}

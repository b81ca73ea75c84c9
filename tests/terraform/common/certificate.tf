# Shared by every configuration (copied beside each): an imported certificate for its custom
# domain name, as the provider's documentation imports one into ACM.
variable "domain_name" {
  type = string
}

variable "certificate_pem" {
  type = string
}

variable "private_key_pem" {
  type      = string
  sensitive = true
}

resource "aws_acm_certificate" "example" {
  private_key      = var.private_key_pem
  certificate_body = var.certificate_pem
}

"""A root the real terraform runs here: only the built-in `terraform_data` (no provider can be
downloaded) and the S3 backend on a moto server, with its native lockfile locking."""

from __future__ import annotations

from pathlib import Path

ROOT_TF = """
terraform {
  backend "s3" {}
}

variable "size" {
  type    = string
  default = "small"
}

variable "hold" {
  type    = number
  default = 0
}

resource "terraform_data" "database" {
  input = var.size

  provisioner "local-exec" {
    command = "sleep ${var.hold}"
  }
}

output "size" {
  value = terraform_data.database.output
}
"""


def backend_file(root: Path, backend: dict[str, str]) -> None:
    """The S3 backend's settings for moto, as a -backend-config file (endpoints is an HCL object)."""
    (root / "backend.hcl").write_text(
        f"""bucket = "{backend["bucket"]}"
key = "{backend["key"]}"
region = "us-east-1"
use_lockfile = true
use_path_style = true
endpoints = {{ s3 = "{backend["endpoint"]}" }}
skip_credentials_validation = true
skip_requesting_account_id = true
skip_metadata_api_check = true
skip_region_validation = true
"""
    )

{{- /* Follows step-ca's templates documentation, "Adding Name Constraints" (an intermediate limited to one domain). */ -}}
{
  "subject": {{ toJson .Subject }},
  "keyUsage": ["certSign", "crlSign"],
  "basicConstraints": {"isCA": true, "maxPathLen": 0},
  "nameConstraints": {
    "critical": true,
    "permittedDNSDomains": {{ toJson .PermittedDomain }}
  }
}

{{- /* Follows step-ca's templates documentation: provisioner "templateData" (.OrganizationalUnit) and user data (.Insecure.User) in the subject. */ -}}
{
  "subject": {
    "commonName": {{ toJson .Subject.CommonName }},
    "organization": {{ toJson (default "Example Inc." .Insecure.User.organization) }},
    "organizationalUnit": {{ toJson .OrganizationalUnit }}
  },
  "sans": {{ toJson .SANs }},
  "keyUsage": ["digitalSignature"],
  "extKeyUsage": ["serverAuth", "clientAuth"]
}

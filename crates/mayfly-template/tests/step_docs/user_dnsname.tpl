{{- /* Follows step-ca's templates documentation, "User-Provided Variables in Signing Requests". */ -}}
{
  "subject": {{ toJson .Subject }},
{{- with .Insecure.User.dnsName }}
  "dnsNames": {{ toJson . }},
{{- else }}
  "sans": {{ toJson .SANs }},
{{- end }}
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
  "keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
  "keyUsage": ["digitalSignature"],
{{- end }}
  "extKeyUsage": ["serverAuth", "clientAuth"]
}

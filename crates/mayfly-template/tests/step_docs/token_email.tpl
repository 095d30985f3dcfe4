{{- /* Follows step-ca's templates documentation: a token claim (`.Token.email`) mapped to the subject, with a `fail` guard. */ -}}
{{- if not .Token.email }}{{ fail "the token has no email claim" }}{{ end -}}
{
  "subject": {"commonName": {{ toJson (first (splitList "@" .Token.email)) }}},
  "emailAddresses": {{ toJson .Token.email }},
  "keyUsage": ["digitalSignature"],
  "extKeyUsage": ["clientAuth"]
}

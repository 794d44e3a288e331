{{/*
S3 credentials from an existing Secret, never from plain values:
.Values.s3.existingSecret names it; accessKeyIdKey / secretAccessKeyKey /
sessionTokenKey name its keys. The variables are the standard AWS ones,
which boto3 reads.
*/}}
{{- define "dlpipe.s3Env" -}}
{{- $s3 := .Values.s3 | default dict -}}
{{- with $s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $s3.accessKeyIdKey | default "AWS_ACCESS_KEY_ID" }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $s3.secretAccessKeyKey | default "AWS_SECRET_ACCESS_KEY" }}
{{- if $s3.sessionTokenKey }}
- name: AWS_SESSION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $s3.sessionTokenKey }}
      optional: true
{{- end }}
{{- end }}
{{- end -}}

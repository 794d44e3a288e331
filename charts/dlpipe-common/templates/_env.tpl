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

{{/*
Does a name (an environment variable, an HTTP header) look like it holds a secret? "true" or "".
Whole words count (HF_TOKEN, DB_PASSWORD, WANDB_API_KEY, AWS_ACCESS_KEY_ID, X-Auth-Token), not
parts of words (TOKENIZERS_PARALLELISM), nor names of where a secret is (*_FILE, *_PATH, *_URL, *_NAME).
*/}}
{{- define "dlpipe.secretLooking" -}}
{{- $name := . | upper | replace "-" "_" -}}
{{- if not (has (splitList "_" $name | last) (list "FILE" "PATH" "DIR" "URL" "URI" "NAME")) -}}
{{- if or (regexMatch "(^|_)(SECRETS?|PASSWORDS?|PASSWD|TOKENS?|CREDENTIALS?|APIKEY|AUTHORIZATION|COOKIE)(_|$)" $name) (regexMatch "(^|_)KEY(_ID)?$" $name) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
.Values.extraEnv as env entries. A secret-looking name (*SECRET*, *PASSWORD*, *TOKEN*, *_KEY, ...)
with a literal value is refused: values are stored in the release and shown in the pod spec.
*/}}
{{- define "dlpipe.extraEnv" -}}
{{- range $index, $env := .Values.extraEnv -}}
{{- if and (hasKey $env "value") (include "dlpipe.secretLooking" $env.name) -}}
{{- fail (printf "extraEnv[%d] (%s) has a literal value, and its name says it is a secret: values are stored in the release and shown in the pod spec. Take it from a Secret instead:\n  extraEnv:\n    - name: %s\n      valueFrom:\n        secretKeyRef: {name: <secret>, key: <key>}" $index $env.name $env.name) -}}
{{- end -}}
{{- end -}}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

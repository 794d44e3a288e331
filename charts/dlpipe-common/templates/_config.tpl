{{/*
A stage's configuration file (the chart's `config` value, completed by the chart), as YAML.
The file is a ConfigMap that anyone who can read the namespace can read, so callback headers
(which dlpipe treats as secrets) must be references, {fromEnv: NAME} or {fromFile: PATH}, never
literals. Call with (dict "context" $ "config" <the configuration>).
*/}}
{{- define "dlpipe.stageConfig" -}}
{{- range $index, $endpoint := dig "events" "endpoints" list .config -}}
{{- range $header, $value := $endpoint.headers | default dict -}}
{{- if kindIs "string" $value -}}
{{- $env := $header | upper | replace "-" "_" -}}
{{- fail (printf "config.events.endpoints[%d].headers.%s is a literal: the configuration is a ConfigMap anyone who can read the namespace can read. Refer to an environment variable set from a Secret instead:\n  config.events.endpoints[%d].headers.%s: {fromEnv: %s}\n  extraEnv:\n    - name: %s\n      valueFrom:\n        secretKeyRef: {name: <secret>, key: <key>}" $index $header $index $header $env $env) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml .config -}}
{{- end -}}

{{/*
A value as text, a whole number without exponent: helm reads numbers of values files as floats,
which print 1700000000 as 1.7e+09 and 1209600 as 1.2096e+06.
*/}}
{{- define "dlpipe.text" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- end -}}

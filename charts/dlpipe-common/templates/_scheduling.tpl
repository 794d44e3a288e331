{{/*
Pod scheduling fields, each rendered only when set: nodeSelector,
tolerations, affinity, priorityClassName.
*/}}
{{- define "dlpipe.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
Container resources, with GPUs as nvidia.com/gpu limits (the device plugin
needs limits; requests default to them). A request above its limit, which the
API server refuses, fails naming both.
Call with (dict "resources" .Values.resources "gpus" .Values.gpus ["field" "tensorboard.resources"]).
*/}}
{{- define "dlpipe.resources" -}}
{{- $resources := deepCopy (.resources | default dict) -}}
{{- if .gpus -}}
{{- $limits := $resources.limits | default dict -}}
{{- $_ := set $limits "nvidia.com/gpu" (int .gpus) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- $field := .field | default "resources" -}}
{{- $limits := $resources.limits | default dict -}}
{{- range $name, $request := $resources.requests | default dict -}}
{{- if hasKey $limits $name -}}
{{- $limit := index $limits $name -}}
{{- if gt (float64 (include "dlpipe.quantity" $request)) (float64 (include "dlpipe.quantity" $limit)) -}}
{{- $where := ternary (printf " (from gpus=%d)" (int $.gpus)) "" (eq $name "nvidia.com/gpu") -}}
{{- fail (printf "%s.requests.%s (%s) is above %s.limits.%s (%s)%s: Kubernetes refuses such a pod; lower the request or raise the limit" $field $name (include "dlpipe.text" $request) $field $name (include "dlpipe.text" $limit) $where) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The amount a Kubernetes quantity (a string such as 1.5Gi, 500m, .5, 1e3, or a number) stands
for, as a number: to compare quantities written with different suffixes.
*/}}
{{- define "dlpipe.quantity" -}}
{{- $text := toString . -}}
{{- $number := regexFind "^[+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?" $text -}}
{{- $suffixes := dict "" 1.0 "n" 1e-9 "u" 1e-6 "m" 1e-3 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18
  "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- mulf (float64 $number) (index $suffixes (trimPrefix $number $text)) -}}
{{- end -}}

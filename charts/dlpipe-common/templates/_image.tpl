{{/*
Image reference from .Values.image: [registry/]repository(:tag|@digest).
global.imageRegistry wins over image.registry for dlpipe's own images; an
upstream image ("upstream" true: TensorFlow Serving) keeps its own registry,
since a private registry holds only what was pushed there (mirror it and set
that image's registry to pull it from there). The tag defaults to the chart's
appVersion; a digest, when set, pins the image and the tag is ignored.
Call with (dict "image" .Values.image "context" $ ["upstream" true]).
*/}}
{{- define "dlpipe.image" -}}
{{- $global := ternary "" .context.Values.global.imageRegistry (.upstream | default false) -}}
{{- $registry := $global | default .image.registry -}}
{{- $repository := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .context.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* image: and imagePullPolicy: lines of a container. Same arguments as dlpipe.image. */}}
{{- define "dlpipe.imageFields" -}}
image: {{ include "dlpipe.image" . | quote }}
imagePullPolicy: {{ .image.pullPolicy | default "IfNotPresent" }}
{{- end -}}

{{/* imagePullSecrets of a pod: global.imagePullSecrets + .Values.imagePullSecrets, names or {name:}. */}}
{{- define "dlpipe.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) -}}
{{- if kindIs "map" . -}}
{{- $names = append $names .name -}}
{{- else -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- with uniq $names }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

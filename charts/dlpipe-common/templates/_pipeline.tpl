{{/*
Values the stages of one pipeline share. The dlpipe chart sets them once, under global.dlpipe
(helm hands globals to every subchart; it hands a subchart nothing computed), and each stage
chart takes its own value first, then the global one. A stage chart installed on its own has no
global.dlpipe, and these helpers give its own values back unchanged.
*/}}

{{/*
A shared value: the chart's own when set, else global.dlpipe.<key> ("dataset", "model").
Call with (dict "context" $ "value" <the chart's own value> "key" "<key>").
*/}}
{{- define "dlpipe.pipeline.value" -}}
{{- .value | default (dig "dlpipe" .key "" (.context.Values.global | default dict)) -}}
{{- end -}}

{{/*
The claim of a pipeline's shared volume: global.dlpipe.claimName, else <release>-data (the
claim the storage chart makes in a pipeline); "" for a chart installed on its own.
*/}}
{{- define "dlpipe.pipeline.claimName" -}}
{{- with dig "dlpipe" dict (.Values.global | default dict) -}}
{{- .claimName | default (printf "%s-data" $.Release.Name) -}}
{{- end -}}
{{- end -}}

{{/*
dlpipe.pipeline.value that must be set: fails naming the chart's own field and, in a pipeline,
the global one. Call with (dict "context" $ "value" <own value> "key" "<key>" "field" "<own
field>" "what" "<what it is>").
*/}}
{{- define "dlpipe.pipeline.required" -}}
{{- $either := .field -}}
{{- if hasKey (.context.Values.global | default dict) "dlpipe" -}}
{{- $either = printf "global.dlpipe.%s (or %s)" .key .field -}}
{{- end -}}
{{- required (printf "%s is required: %s" $either .what) (include "dlpipe.pipeline.value" .) -}}
{{- end -}}

{{/*
Values that are each valid but do not work together: each check names both fields.
deployment.yaml includes this, so every render runs it.
*/}}
{{- define "dlpipe-serving.checks" -}}
{{- $v := .Values -}}
{{- if eq (int64 $v.service.restPort) (int64 $v.service.grpcPort) -}}
{{- fail (printf "service.restPort and service.grpcPort are both %d: the Service needs a port for each; pick two different ports" (int64 $v.service.restPort)) -}}
{{- end -}}
{{- $taken := dict "8500" "TF Serving's gRPC port (8500)" "8501" "TF Serving's REST port (8501)" -}}
{{- with get $taken (include "dlpipe.text" $v.sidecar.port) -}}
{{- fail (printf "sidecar.port %d is %s in the same pod: the sidecar must listen on another port" (int64 $v.sidecar.port) .) -}}
{{- end -}}
{{- if and $v.hpa.enabled (gt (int64 $v.hpa.minReplicas) (int64 $v.hpa.maxReplicas)) -}}
{{- fail (printf "hpa.minReplicas (%d) is above hpa.maxReplicas (%d): the autoscaler needs min <= max" (int64 $v.hpa.minReplicas) (int64 $v.hpa.maxReplicas)) -}}
{{- end -}}
{{- $replicas := include "dlpipe-serving.minReplicas" . | int64 -}}
{{- if and $v.pdb.enabled (gt $replicas 1) (ge (int64 $v.pdb.minAvailable) $replicas) -}}
{{- $field := ternary "hpa.minReplicas" "replicaCount" $v.hpa.enabled -}}
{{- fail (printf "pdb.minAvailable (%d) is not below %s (%d): a budget that keeps every pod up blocks every node drain; lower pdb.minAvailable" (int64 $v.pdb.minAvailable) $field $replicas) -}}
{{- end -}}
{{- /* canary.version may equal model.version: that is the promotion's middle step (the stable
pods load the canary's version while the canary still serves it; README "Rolling out a model"). */ -}}
{{- $names := list (include "dlpipe-serving.modelName" .) -}}
{{- range $index, $model := $v.models -}}
{{- if has $model.name $names -}}
{{- $first := ternary "model.name" "an earlier entry of models" (eq $model.name (first $names)) -}}
{{- fail (printf "models[%d].name %s repeats %s: TF Serving serves each name once; list every other model once" $index $model.name $first) -}}
{{- end -}}
{{- $names = append $names $model.name -}}
{{- end -}}
{{- end -}}

{{/* The fewest stable pods there will be: hpa.minReplicas with the autoscaler, else replicaCount. */}}
{{- define "dlpipe-serving.minReplicas" -}}
{{- ternary .Values.hpa.minReplicas .Values.replicaCount .Values.hpa.enabled | int64 -}}
{{- end -}}

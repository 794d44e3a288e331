{{/*
The stages chain through the shared volume: each stage's pod waits for its input there (the
stage charts' waitFor). One link Helm cannot make: the run the training Job makes is named after
the Job (a checksum of the training values), which no sibling chart sees. So this chart renders
the evaluation of that run itself, with the evaluate chart's own templates and values
(.Subcharts.evaluate), its config.run_id set to the training's run id.
*/}}

{{/* "true" when this chart evaluates the training's run (a one-shot pipeline), "" otherwise. */}}
{{- define "dlpipe-pipeline.evaluatesTraining" -}}
{{- if and .Values.train.enabled .Values.evaluate.enabled -}}
{{- $evaluate := .Subcharts.evaluate.Values -}}
{{- if not (or $evaluate.config.run_id $evaluate.continuous.enabled .Subcharts.train.Values.continuous.enabled) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
Values that are each valid but break the chain between stages: each check names both fields.
*/}}
{{- define "dlpipe-pipeline.checks" -}}
{{- $claim := include "dlpipe.pipeline.claimName" . -}}
{{- range $stage := list "storage" "ingest" "train" "evaluate" "serving" -}}
{{- with get $.Subcharts $stage -}}
{{- with .Values.sharedVolume.claimName -}}
{{- if ne . $claim -}}
{{- fail (printf "%s.sharedVolume.claimName=%s: the stages of a pipeline share one volume, global.dlpipe.claimName (%s); set that instead" $stage . $claim) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.storage.enabled -}}
{{- with .Subcharts.storage.Values.existingClaim -}}
{{- fail (printf "storage.existingClaim=%s: in a pipeline, name a claim that exists with global.dlpipe.claimName and set storage.enabled=false" .) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingest.enabled .Values.train.enabled -}}
{{- $ingested := include "dlpipe-ingest.dataset" .Subcharts.ingest -}}
{{- $trained := include "dlpipe-train.dataset" .Subcharts.train -}}
{{- if ne $ingested (splitList "@" $trained | first) -}}
{{- fail (printf "ingest writes dataset %s, train reads %s (ingest.config.ingest.dataset, train.config.train.dataset, else global.dlpipe.dataset): training would wait for a dataset nothing ingests; name it once, in global.dlpipe.dataset" $ingested $trained) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.evaluate.enabled .Values.serving.enabled -}}
{{- $published := include "dlpipe-evaluate.modelName" .Subcharts.evaluate -}}
{{- $served := list -}}
{{- range include "dlpipe-serving.models" .Subcharts.serving | fromJsonArray }}{{ $served = append $served .name }}{{ end -}}
{{- if not (has $published $served) -}}
{{- fail (printf "evaluate publishes model %s, serving serves %s (evaluate.config.evaluate.model_name, serving.model.name and serving.models, else global.dlpipe.model): serving would wait for a model nothing publishes; name it once, in global.dlpipe.model" $published (join ", " $served)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.evaluate.enabled (not .Values.train.enabled) -}}
{{- $evaluate := .Subcharts.evaluate.Values -}}
{{- if not (or $evaluate.config.run_id $evaluate.continuous.enabled) -}}
{{- fail "evaluate.enabled without train.enabled: nothing names the run to evaluate; set evaluate.config.run_id, or evaluate.continuous.enabled=true to evaluate every finished run" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.train.enabled .Subcharts.train.Values.continuous.enabled .Values.evaluate.enabled (not .Subcharts.evaluate.Values.continuous.enabled) -}}
{{- fail "train.continuous.enabled without evaluate.continuous.enabled: continuous training names its runs after their dataset versions, and only evaluate's schedule (`dlpipe evaluate --pending`) finds them; set evaluate.continuous.enabled=true" -}}
{{- end -}}
{{- end -}}

{{/*
A template of the evaluate chart, rendered for the run the training Job makes: the evaluate
chart's context (.Subcharts.evaluate) with config.run_id set to the training's run id.
Call with (dict "context" $ "template" "dlpipe-evaluate.job"|"dlpipe-evaluate.configMap"|…).
*/}}
{{- define "dlpipe-pipeline.evaluation" -}}
{{- $values := deepCopy .context.Subcharts.evaluate.Values -}}
{{- $_ := set $values.config "run_id" (include "dlpipe-train.runId" .context.Subcharts.train) -}}
{{- include .template (merge (dict "Values" $values) .context.Subcharts.evaluate) -}}
{{- end -}}

{{/*
Names. Every resource name is release-scoped, so several releases of one chart
share a namespace without clashing. Names are made to suit the strictest kind
that carries them: a Service name is a DNS-1035 label (63 characters, a letter
first, no dots), a CronJob's 52 characters (its Jobs add 11).
*/}}

{{/* Chart name, or .Values.nameOverride. */}}
{{- define "dlpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Release-scoped name: fullnameOverride, else <release>-<chart> (just <release> when it already
holds the chart name). Helm allows release names with dots or a digit first, which no Service
name may have: dots become dashes, and a name that would start with a digit is <chart>-<release>.
*/}}
{{- define "dlpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- $release := .Release.Name | replace "." "-" -}}
{{- if regexMatch "^[0-9]" $release -}}
{{- printf "%s-%s" $name $release | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name $release -}}
{{- $release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $release $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A component's name: (dict "context" $ "component" "prepare") -> <fullname>-prepare, within 63
characters, or "maxLength" (52 for a CronJob).
*/}}
{{- define "dlpipe.componentName" -}}
{{- $max := .maxLength | default 63 | int -}}
{{- $full := include "dlpipe.fullname" .context | trunc (int (sub (sub $max 1) (len .component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $full .component -}}
{{- end -}}

{{/* <chart>-<version> for the helm.sh/chart label. */}}
{{- define "dlpipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Names and labels shared by every template.
*/}}

{{/* Chart name, overridable. */}}
{{- define "oidc-bff.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name (63 chars: the DNS label limit). */}}
{{- define "oidc-bff.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "oidc-bff.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object, beside its selector labels (which carry name and instance). */}}
{{- define "oidc-bff.labels" -}}
helm.sh/chart: {{ include "oidc-bff.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "oidc-bff.name" . }}
{{- end }}

{{/* Selector of the gateway pods (immutable once deployed: keep it small). */}}
{{- define "oidc-bff.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oidc-bff.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{/* Selector of the bundled Redis pod. */}}
{{- define "oidc-bff.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "oidc-bff.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "oidc-bff.redisFullname" -}}
{{- printf "%s-redis" (include "oidc-bff.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret the gateway (and the bundled Redis) read. */}}
{{- define "oidc-bff.secretName" -}}
{{- default (include "oidc-bff.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "oidc-bff.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oidc-bff.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Fails the render when the pod could be killed mid-drain: the kubelet sends
SIGKILL terminationGracePeriodSeconds after the preStop hook starts, and the
gateway needs preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS.
*/}}
{{- define "oidc-bff.assertGracePeriod" -}}
{{- $drainSeconds := div (add (int (default 0 .Values.config.SHUTDOWN_DELAY_MS)) (int .Values.config.SHUTDOWN_TIMEOUT_MS)) 1000 }}
{{- $needed := add $drainSeconds (int .Values.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed (config.SHUTDOWN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS)/1000 + preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- end }}

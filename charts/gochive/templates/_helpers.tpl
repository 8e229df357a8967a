{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "gochive.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: the release name, plus the chart name unless it already holds it. */}}
{{- define "gochive.fullname" -}}
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

{{- define "gochive.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gochive.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gochive.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gochive.labels" -}}
helm.sh/chart: {{ include "gochive.chart" . }}
{{ include "gochive.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gochive
{{- end }}

{{- define "gochive.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gochive.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gochive.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the MongoDB username and password, or "" when none is configured. */}}
{{- define "gochive.credentialsSecretName" -}}
{{- if .Values.mongodb.existingSecret }}
{{- .Values.mongodb.existingSecret }}
{{- else if .Values.mongodb.externalSecret.enabled }}
{{- printf "%s-mongodb" (include "gochive.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Namespaces the operator's RBAC covers when watchNamespaces is set: the watched ones plus the release
namespace (credentials Secret, Leases, and the chart's own policies), without duplicates.
*/}}
{{- define "gochive.rbacNamespaces" -}}
{{- $nss := list .Release.Namespace }}
{{- range .Values.operator.watchNamespaces }}
{{- $nss = append $nss . }}
{{- end }}
{{- $nss | uniq | toJson }}
{{- end }}

{{/*
A policy duration in seconds: an integer (the original's form) or a string of w, d, h, m, s components
such as 92d or 1w2d. values.schema.json has already checked the form.
*/}}
{{- define "gochive.durationSeconds" -}}
{{- if kindIs "string" . }}
{{- if regexMatch "^[0-9]+$" . }}
{{- . }}
{{- else }}
{{- $unit := dict "w" 604800 "d" 86400 "h" 3600 "m" 60 "s" 1 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[wdhms]" . -1 }}
{{- $total = add $total (mul (regexReplaceAll "[wdhms]$" . "" | atoi) (get $unit (regexReplaceAll "^[0-9]+" . ""))) }}
{{- end }}
{{- $total }}
{{- end }}
{{- else }}
{{- int64 . }}
{{- end }}
{{- end }}

{{/*
Checks that JSON Schema cannot express, failing with the field named:
- policy names are unique (they become metadata.name);
- s3.uploadInterval > archiveCheckInterval (the CRD's CEL rule, caught here before anything is applied);
- a policy that names a hostAddress needs mongodb.uriTemplate;
- a uriTemplate that uses {username}/{password} needs a credentials Secret;
- a filter's size: at most 32768 bytes (operator/api/filter.ts FILTER_MAX_BYTES). Measured here as
  JSON as written, which equals the operator's measure (canonical Extended JSON) for strings, booleans
  and nested documents; numbers grow in canonical form, so the operator refuses the rest.
*/}}
{{- define "gochive.validate" -}}
{{- $seen := dict }}
{{- range $i, $p := .Values.policies }}
{{- if not $p.name }}
{{- fail (printf "policies[%d].name is required: it becomes the ArchivePolicy's metadata.name" $i) }}
{{- end }}
{{- if hasKey $seen (toString $p.name) }}
{{- fail (printf "policies[%d].name: %q is used by more than one policy; policy names must be unique" $i $p.name) }}
{{- end }}
{{- $_ := set $seen (toString $p.name) true }}
{{- if and (hasKey $p "archiveCheckInterval") (kindIs "map" $p.s3) (hasKey $p.s3 "uploadInterval") }}
{{- $check := include "gochive.durationSeconds" $p.archiveCheckInterval | atoi }}
{{- $upload := include "gochive.durationSeconds" $p.s3.uploadInterval | atoi }}
{{- if le $upload $check }}
{{- fail (printf "policies[%d].s3.uploadInterval (%v = %ds) must be greater than archiveCheckInterval (%v = %ds): fetches happen more often than uploads, as in the original" $i $p.s3.uploadInterval $upload $p.archiveCheckInterval $check) }}
{{- end }}
{{- end }}
{{- if $p.filter }}
{{- $filterBytes := len (toJson $p.filter) }}
{{- if gt $filterBytes 32768 }}
{{- fail (printf "policies[%d].filter is %d bytes as JSON, more than the 32768 allowed (it is stored with every bundle in flight in the policy's status); select by a field or a range, or split the policy, instead of listing many values" $i $filterBytes) }}
{{- end }}
{{- end }}
{{- if and $p.hostAddress (not $p.uriSecretRef) }}
{{- if not $.Values.mongodb.uriTemplate }}
{{- fail (printf "policies[%d] (%s) sets hostAddress, so mongodb.uriTemplate must be set (e.g. \"mongodb+srv://{username}:{password}@prod-{host}-shard01.example.com/\"), or give the policy a uriSecretRef" $i $p.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $tpl := .Values.mongodb.uriTemplate }}
{{- if and $tpl (or (contains "{username}" $tpl) (contains "{password}" $tpl)) (not (include "gochive.credentialsSecretName" .)) }}
{{- fail "mongodb.uriTemplate uses {username}/{password}: set mongodb.existingSecret to a Secret holding them, or enable mongodb.externalSecret" }}
{{- end }}
{{- if and .Values.mongodb.externalSecret.enabled (not .Values.mongodb.externalSecret.secretStoreRef.name) }}
{{- fail "mongodb.externalSecret.secretStoreRef.name must be set when mongodb.externalSecret.enabled is true" }}
{{- end }}
{{- if and .Values.mongodb.externalSecret.enabled (not .Values.mongodb.externalSecret.remoteKey) }}
{{- fail "mongodb.externalSecret.remoteKey must be set when mongodb.externalSecret.enabled is true" }}
{{- end }}
{{- end }}

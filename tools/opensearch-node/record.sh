#!/usr/bin/env bash
# record.sh — replay the conformance calls against a running node and rewrite recorded/.
#
# Usage:
#   eval "$(scripts/opensearch-node start)"
#   tools/opensearch-node/record.sh            # uses $FIREDRILL_TEST_OPENSEARCH_URL
#
# Each call's response body is written, byte for byte, to recorded/NN-name.json, and
# recorded/README.md is regenerated with the request (method, path, body) and HTTP status of
# each. Uses (and first deletes) the indices "docs" and "nope"; run it on a throwaway node.
set -euo pipefail

url=${FIREDRILL_TEST_OPENSEARCH_URL:?set FIREDRILL_TEST_OPENSEARCH_URL (eval "\$(scripts/opensearch-node start)")}
url=${url%/}
out="$(cd "$(dirname "$0")" && pwd)/recorded"
mkdir -p "$out"
rm -f "$out"/*.json
readme="$out/README.md"
n=0

cat >"$readme" <<'EOF'
# Recorded OpenSearch 2.19.6 answers

Live responses of the node that `scripts/opensearch-node start` runs (OpenSearch 2.19.6 built from
Maven Central artifacts, single node, `cluster.default_number_of_replicas: 0`), captured by
`tools/opensearch-node/record.sh`. Each file is the response body exactly as sent (compact JSON;
`?pretty` was not used). Volatile values (UUIDs, `took`, `_seq_no`, dates) are whatever that run
produced. Calls run in the order listed, against one fresh index `docs` created with the
projector's mapping (`projector.IndexMapping`). A file with an empty body is a `HEAD` answer.

| file | request | HTTP |
|---|---|---|
EOF

# call NAME METHOD PATH [BODY] — BODY is sent as application/json, or as
# application/x-ndjson when PATH is a _bulk endpoint.
call() {
	local name=$1 method=$2 path=$3 body=${4:-} file code ctype=application/json shown
	n=$((n + 1))
	file=$(printf '%02d-%s.json' "$n" "$name")
	[[ $path == *_bulk* ]] && ctype=application/x-ndjson
	local -a args=(-sS -o "$out/$file" -w '%{http_code}' -X "$method" --max-time 60)
	[[ $method == HEAD ]] && args=(-sS -o "$out/$file" -w '%{http_code}' -I --max-time 60)
	if [[ -n $body ]]; then
		args+=(-H "Content-Type: $ctype" --data-binary "$body")
	fi
	code=$(curl "${args[@]}" "$url$path")
	if [[ $method == HEAD ]]; then
		: >"$out/$file" # keep the (empty) body, not curl's header dump
	fi
	printf '%s %s %s -> %s\n' "$file" "$method" "$path" "$code" >&2
	shown="\`$method $path\`"
	if [[ -n $body ]]; then
		# Body inline, newlines of NDJSON shown as ⏎ so the table stays one row per call.
		shown+="<br>\`$(printf '%s' "$body" | sed ':a;N;$!ba;s/\n/⏎/g' | sed 's/|/\\|/g')\`"
	fi
	# shellcheck disable=SC2016 # backquotes are Markdown
	printf '| `%s` | %s | %s |\n' "$file" "$shown" "$code" >>"$readme"
}

mapping='{"mappings":{"properties":{"entity_id":{"type":"keyword"},"entity_type":{"type":"keyword"},"title":{"type":"text"},"body":{"type":"text"},"version":{"type":"long"},"updated_at":{"type":"date"}}}}'

curl -sS -o /dev/null -X DELETE "$url/docs" || true
curl -sS -o /dev/null -X DELETE "$url/nope" || true

call root GET /
call cluster-health GET '/_cluster/health'
call index-head-missing HEAD /docs
call index-create PUT /docs "$mapping"
call index-create-again PUT /docs "$mapping"
call index-head HEAD /docs
call index-get-missing GET /nope
call mapping-get GET /docs/_mapping
call cluster-health-green GET '/_cluster/health/docs?wait_for_status=green&timeout=30s'

call bulk-external-create POST '/_bulk?refresh=wait_for' \
	'{"index":{"_index":"docs","_id":"e1","version":1,"version_type":"external"}}
{"entity_id":"e1","entity_type":"item","title":"first title","body":"alpha beta","version":1,"updated_at":"2024-01-02T03:04:05Z"}
{"index":{"_index":"docs","_id":"e2","version":5,"version_type":"external"}}
{"entity_id":"e2","entity_type":"item","title":"second title","body":"gamma delta","version":5,"updated_at":"2024-01-02T03:04:06Z"}
'
call bulk-external-stale POST '/_bulk' \
	'{"index":{"_index":"docs","_id":"e1","version":1,"version_type":"external"}}
{"entity_id":"e1","entity_type":"item","title":"same version","body":"x","version":1,"updated_at":"2024-01-02T03:04:05Z"}
{"index":{"_index":"docs","_id":"e2","version":3,"version_type":"external"}}
{"entity_id":"e2","entity_type":"item","title":"older version","body":"x","version":3,"updated_at":"2024-01-02T03:04:05Z"}
{"index":{"_index":"docs","_id":"e1","version":2,"version_type":"external"}}
{"entity_id":"e1","entity_type":"item","title":"first title v2","body":"alpha beta","version":2,"updated_at":"2024-01-02T03:05:05Z"}
'
call bulk-delete-missing-external POST '/_bulk' \
	'{"delete":{"_index":"docs","_id":"missing","version":7,"version_type":"external"}}
{"delete":{"_index":"docs","_id":"e2","version":4,"version_type":"external"}}
'
call bulk-delete-missing-only POST '/_bulk' \
	'{"delete":{"_index":"docs","_id":"gone","version":2,"version_type":"external"}}
'
call bulk-mapper-parsing POST '/_bulk' \
	'{"index":{"_index":"docs","_id":"bad","version":1,"version_type":"external"}}
{"entity_id":"bad","version":"not-a-number"}
'
call bulk-malformed POST '/_bulk' '{"index":{"_index":"docs","_id":"x"}}
not json
'
call doc-delete-missing DELETE /docs/_doc/missing
call doc-delete-missing-external DELETE '/docs/_doc/never-seen?version=3&version_type=external'
# "missing" now has a delete tombstone (version 7 from the bulk delete, 8 after the plain DELETE):
# a lower external version conflicts until the tombstone is collected (index.gc_deletes, 60s).
call doc-delete-tombstone-external DELETE '/docs/_doc/missing?version=3&version_type=external'
call doc-put-external-stale PUT '/docs/_doc/e1?version=1&version_type=external' \
	'{"entity_id":"e1","version":1}'
call doc-get GET /docs/_doc/e1
call doc-get-missing GET /docs/_doc/missing
call mget POST /docs/_mget '{"ids":["e1","e2","missing"]}'
call refresh POST /docs/_refresh
call count GET /docs/_count
call search-match-all POST /docs/_search '{"query":{"match_all":{}},"sort":[{"entity_id":"asc"}]}'
call search-match-title POST /docs/_search '{"query":{"match":{"title":"TITLE"}}}'

call settings-refresh-interval-off PUT /docs/_settings '{"index":{"refresh_interval":"-1"}}'
call settings-refresh-interval-restore PUT /docs/_settings '{"index":{"refresh_interval":null}}'
call settings-write-block-on PUT /docs/_settings '{"index.blocks.write":true}'
call settings-get GET /docs/_settings
call bulk-write-blocked POST '/_bulk' \
	'{"index":{"_index":"docs","_id":"e3","version":1,"version_type":"external"}}
{"entity_id":"e3","entity_type":"item","title":"blocked","body":"x","version":1,"updated_at":"2024-01-02T03:04:07Z"}
{"delete":{"_index":"docs","_id":"e1","version":9,"version_type":"external"}}
'
call doc-put-write-blocked PUT '/docs/_doc/e3?version=1&version_type=external' '{"entity_id":"e3","version":1}'
call settings-write-block-off PUT /docs/_settings '{"index.blocks.write":false}'

call aliases-add POST /_aliases '{"actions":[{"add":{"index":"docs","alias":"docs-live"}}]}'
call alias-get GET /_alias/docs-live
call alias-get-missing GET /_alias/nope-live
call alias-head HEAD /_alias/docs-live
call index-alias-get GET /docs/_alias
call aliases-remove-add POST /_aliases '{"actions":[{"remove":{"index":"docs","alias":"docs-live"}},{"add":{"index":"docs","alias":"docs-next"}}]}'
call bulk-via-alias POST '/_bulk?refresh=true' \
	'{"index":{"_index":"docs-next","_id":"e4","version":1,"version_type":"external"}}
{"entity_id":"e4","entity_type":"item","title":"via alias","body":"x","version":1,"updated_at":"2024-01-02T03:04:08Z"}
'
call count-via-alias GET /docs-next/_count

call index-delete DELETE /docs
call index-delete-missing DELETE /docs

cat >>"$readme" <<'EOF'

What these show:

- `GET /` is pretty-printed by default; every other answer is compact.
- External versioning: a version lower than or equal to the stored one is a per-item 409
  `version_conflict_engine_exception` with reason
  `[<id>]: version conflict, current version [N] is higher or equal to the one provided [M]`,
  inside an HTTP 200 `_bulk` answer; later items of the same request still apply.
- A delete of a missing document is a 404 with `"result":"not_found"` (per item in `_bulk`, whole
  answer on `DELETE /_doc`), not an error object; with external versioning `_version` echoes the
  version sent. In `_bulk` it does not set `"errors":true` on its own (the delete-only request).
  It leaves a tombstone: a later, lower external version for that id is a 409 until
  `index.gc_deletes` (60 s) has passed.
- A malformed source line in `_bulk` is a per-item 400 `mapper_parsing_exception`
  (`caused_by: not_x_content_exception`), not a whole-request error.
- `index.blocks.write: true`: every `_bulk` item (index and delete) is a per-item 403
  `cluster_block_exception`, `index [docs] blocked by: [FORBIDDEN/8/index write (api)];`, inside an
  HTTP 200; a single-document write gets the same error as a whole 403 answer.
- `GET /_alias/<missing>` answers 404 with the *string* error form
  `{"error":"alias [nope-live] missing","status":404}`, not an error object.
- `_shards.total` is 1 because this node sets `cluster.default_number_of_replicas: 0`; with the
  server default (1 replica, one node) it is 2 with `successful: 1`, and index health is yellow.
EOF

# shellcheck disable=SC2016 # backquotes are Markdown
printf '\n%d calls. Regenerate with `tools/opensearch-node/record.sh` against a fresh node.\n' "$n" >>"$readme"
printf 'record.sh: wrote %d files to %s\n' "$n" "$out" >&2

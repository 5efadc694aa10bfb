package searchd

import (
	"fmt"
	"net/http"
	"strings"
)

// esError is an error with an Elasticsearch type, reason and HTTP status.
// It is the one error kind of the package: the HTTP layer renders it as
// {"error":{"root_cause":[..],"type":..,"reason":..},"status":N}, and a bulk
// item renders it as its "error" object.
type esError struct {
	status int
	typ    string
	reason string
	index  string // adds "index" (and "index_uuid") when set
	uuid   string // index_uuid; "_na_" when the index does not exist
	shard  bool   // adds "shard":"0": the failure happened in a shard
	extra  map[string]any
}

func (e *esError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.typ, e.reason) }

// object is the error's JSON object, without root_cause.
func (e *esError) object() map[string]any {
	m := map[string]any{"type": e.typ, "reason": e.reason}
	if e.index != "" {
		m["index"] = e.index
		uuid := e.uuid
		if uuid == "" {
			uuid = "_na_"
		}
		m["index_uuid"] = uuid
	}
	if e.shard {
		m["shard"] = "0"
	}
	for k, v := range e.extra {
		m[k] = v
	}
	return m
}

// body is the whole response body of a request that failed with e.
func (e *esError) body() map[string]any {
	obj := e.object()
	obj["root_cause"] = []any{e.object()}
	return map[string]any{"error": obj, "status": e.status}
}

func errIndexNotFound(name string) *esError {
	return &esError{status: http.StatusNotFound, typ: "index_not_found_exception", reason: "no such index [" + name + "]",
		index: name, extra: map[string]any{"resource.type": "index_or_alias", "resource.id": name}}
}

func errIndexExists(name, uuid string) *esError {
	return &esError{status: http.StatusBadRequest, typ: "resource_already_exists_exception",
		reason: fmt.Sprintf("index [%s/%s] already exists", name, uuid), index: name, uuid: uuid}
}

func errInvalidIndexName(name, why string) *esError {
	return &esError{status: http.StatusBadRequest, typ: "invalid_index_name_exception",
		reason: fmt.Sprintf("Invalid index name [%s], %s", name, why), index: name}
}

func errIllegalArgument(format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: "illegal_argument_exception", reason: fmt.Sprintf(format, a...)}
}

// errUnsupported names a part of the Elasticsearch API searchd does not
// implement, so a caller sees at once that the gap is ours.
func errUnsupported(what string) *esError {
	return errIllegalArgument("searchd does not support [%s]", what)
}

func errParse(format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: "parse_exception", reason: fmt.Sprintf(format, a...)}
}

func errParsing(format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: "parsing_exception", reason: fmt.Sprintf(format, a...)}
}

func errValidation(problems ...string) *esError {
	var b strings.Builder
	b.WriteString("Validation Failed: ")
	for i, p := range problems {
		fmt.Fprintf(&b, "%d: %s;", i+1, p)
	}
	return &esError{status: http.StatusBadRequest, typ: "action_request_validation_exception", reason: b.String()}
}

func errVersionConflict(ix *index, id, reason string) *esError {
	return &esError{status: http.StatusConflict, typ: "version_conflict_engine_exception",
		reason: "[" + id + "]: version conflict, " + reason, index: ix.name, uuid: ix.uuid, shard: true}
}

func errWriteBlocked(ix *index, block string) *esError {
	status := http.StatusForbidden
	if block == blockReadOnlyAllowDelete {
		status = http.StatusTooManyRequests
	}
	return &esError{status: status, typ: "cluster_block_exception",
		reason: fmt.Sprintf("index [%s] blocked by: [%s];", ix.name, block)}
}

func errDocumentMissing(ix *index, id string) *esError {
	return &esError{status: http.StatusNotFound, typ: "document_missing_exception",
		reason: "[" + id + "]: document missing", index: ix.name, uuid: ix.uuid, shard: true}
}

func errMapperParsing(format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: "mapper_parsing_exception", reason: fmt.Sprintf(format, a...)}
}

func errQueryShard(ix string, format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: "query_shard_exception", reason: fmt.Sprintf(format, a...), index: ix}
}

func errInternal(err error) *esError {
	return &esError{status: http.StatusInternalServerError, typ: "exception", reason: "searchd: " + err.Error()}
}

package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ContentTypeV2Protobuf is the Content-Type of the protobuf /openapi/v2
// reply. Clients ask with "…spec.v2@v1.0+protobuf", but echoing the "@" form
// breaks their MIME parser, so the reply uses the dotted form.
const ContentTypeV2Protobuf = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

// v2Handler serves one Swagger document as JSON or protobuf with ETags.
type v2Handler struct {
	json, proto         []byte
	jsonETag, protoETag string
	modified            time.Time
}

func newV2Handler(sw *spec.Swagger) (*v2Handler, error) {
	js, err := json.Marshal(sw)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode v2 JSON: %w", err)
	}
	pb, err := V2Protobuf(js)
	if err != nil {
		return nil, err
	}
	return &v2Handler{json: js, proto: pb, jsonETag: etag(js), protoETag: etag(pb), modified: time.Now()}, nil
}

// V2Protobuf converts a Swagger 2.0 JSON document to gnostic's protobuf form.
func V2Protobuf(js []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(js)
	if err != nil {
		return nil, fmt.Errorf("openapi: v2 document does not parse as Swagger 2.0: %w", err)
	}
	pb, err := proto.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode v2 protobuf: %w", err)
	}
	return pb, nil
}

func etag(b []byte) string {
	return fmt.Sprintf("%X", sha512.Sum512(b))
}

// wantProtobuf picks the reply form from Accept: the first media range, in
// the client's order of preference, that either form satisfies.
func wantProtobuf(accept string) (proto, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	best, bestQ := -1, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			// The "@" in the protobuf type is not a valid token; match by hand.
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
			params = nil
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			fmt.Sscanf(v, "%g", &q)
		}
		kind := -1
		switch {
		case strings.HasPrefix(mt, "application/com.github.proto-openapi.spec.v2") && strings.HasSuffix(mt, "+protobuf"):
			kind = 1
		case mt == "application/json", mt == "application/*", mt == "*/*":
			kind = 0
		}
		if kind >= 0 && q > 0 && q > bestQ {
			best, bestQ = kind, q
		}
	}
	if best < 0 {
		return false, false
	}
	return best == 1, true
}

func (h *v2Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET is supported on /openapi/v2", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Add("Vary", "Accept")
	pb, ok := wantProtobuf(r.Header.Get("Accept"))
	if !ok {
		http.Error(w, "not acceptable: ask for application/json or "+ContentTypeV2Protobuf, http.StatusNotAcceptable)
		return
	}
	body, tag, ct := h.json, h.jsonETag, "application/json"
	if pb {
		body, tag, ct = h.proto, h.protoETag, ContentTypeV2Protobuf
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Etag", `"`+tag+`"`)
	http.ServeContent(w, r, "", h.modified, bytes.NewReader(body))
}

package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// applyPatch applies a patch of the request's content type to the JSON of
// cur and returns the patched JSON. dataStruct is the typed object the
// strategic merge patch reads its merge keys from.
func applyPatch(r *http.Request, cur []byte, patch []byte, dataStruct runtime.Object) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json-patch+json":
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		out, err := p.Apply(cur)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case "application/merge-patch+json":
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid merge patch: %v", err))
		}
		return out, nil
	case "application/strategic-merge-patch+json":
		if dataStruct == nil {
			return nil, unsupportedMediaType(ct)
		}
		var pm map[string]any
		if err := json.Unmarshal(patch, &pm); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		out, err := strategicpatch.StrategicMergePatch(cur, patch, dataStruct)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to apply strategic merge patch: %v", err))
		}
		return out, nil
	case "application/apply-patch+yaml":
		return nil, &apierrors.StatusError{ErrStatus: unsupportedMediaType(ct).(*apierrors.StatusError).ErrStatus}
	}
	return nil, unsupportedMediaType(ct)
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.update(r.Context(), req.res, req.namespace, req.name, req.sub, dry, func(cur runtime.Object) (runtime.Object, error) {
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(r, curJSON, body, req.res.New())
		if err != nil {
			return nil, err
		}
		obj := req.res.New()
		gvk := req.res.GVK()
		actual, err := decodeJSON(w, r, patched, gvk, obj)
		if err != nil {
			return nil, err
		}
		if actual == nil || *actual != gvk {
			return nil, apierrors.NewBadRequest("a patch may not change apiVersion or kind")
		}
		return obj, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusOK, req.res, out)
}

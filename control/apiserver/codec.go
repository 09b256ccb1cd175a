package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonser "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

var (
	// jsonCodec decodes JSON request bodies (fieldValidation Ignore).
	jsonCodec = jsonser.NewSerializerWithOptions(jsonser.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonser.SerializerOptions{})
	// StorageCodec writes objects to etcd as Kubernetes protobuf, as
	// kube-apiserver does, and reads protobuf or JSON (what Skiff stored
	// before), so existing data directories keep working.
	StorageCodec runtime.Codec = storageCodec{}
	strictJSON                 = jsonser.NewSerializerWithOptions(jsonser.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonser.SerializerOptions{Strict: true})
	yamlSer                    = jsonser.NewSerializerWithOptions(jsonser.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonser.SerializerOptions{Yaml: true})
	protoSer                   = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
)

const maxBody = 3 << 20

// decodeBody decodes a request body into into, whose kind is gvk. It
// honours fieldValidation: Strict rejects unknown and duplicate fields with
// 400, Warn adds a Warning header, Ignore drops them.
func decodeBody(w http.ResponseWriter, r *http.Request, body []byte, gvk schema.GroupVersionKind, into runtime.Object) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	var actual *schema.GroupVersionKind
	switch ct {
	case "application/vnd.kubernetes.protobuf":
		_, actual, err = protoSer.Decode(body, &gvk, into)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("unable to decode protobuf body: %v", err))
		}
	case "application/yaml":
		_, actual, err = yamlSer.Decode(body, &gvk, into)
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
	case "", "application/json", "*/*":
		actual, err = decodeJSON(w, r, body, gvk, into)
		if err != nil {
			return err
		}
	default:
		return unsupportedMediaType(ct)
	}
	if actual == nil || *actual != gvk {
		got := schema.GroupVersionKind{}
		if actual != nil {
			got = *actual
		}
		if got.Kind != gvk.Kind {
			return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
		}
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	into.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

func decodeJSON(w http.ResponseWriter, r *http.Request, body []byte, gvk schema.GroupVersionKind, into runtime.Object) (*schema.GroupVersionKind, error) {
	mode := r.URL.Query().Get("fieldValidation")
	if mode == "" {
		mode = "Warn"
	}
	switch mode {
	case "Strict", "Warn":
		_, actual, err := strictJSON.Decode(body, &gvk, into)
		if err == nil {
			return actual, nil
		}
		if runtime.IsStrictDecodingError(err) {
			if mode == "Strict" {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			for _, e := range strings.Split(strings.TrimPrefix(err.Error(), "strict decoding error: "), ", ") {
				w.Header().Add("Warning", fmt.Sprintf("299 - %q", e))
			}
		} else {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	case "Ignore":
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be Ignore, Warn or Strict, not %q", mode))
	}
	_, actual, err := jsonCodec.Decode(body, &gvk, into)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return actual, nil
}

// writeJSON writes obj as JSON with status code.
func writeJSON(w http.ResponseWriter, code int, obj any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(obj); err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// writeError writes err as a metav1.Status.
func writeError(w http.ResponseWriter, err error) {
	st := apierrors.APIStatus(nil)
	if s, ok := err.(apierrors.APIStatus); ok {
		st = s
	} else {
		st = apierrors.NewInternalError(err)
	}
	s := st.Status()
	s.Kind, s.APIVersion = "Status", "v1"
	code := int(s.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, &s)
}

func successStatus(name, group, kind string, uid string) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: name, Group: group, Kind: kind, UID: typesUID(uid)}}
}

func unsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format (%s) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", ct)}}
}

// protoMagic starts every Kubernetes protobuf encoding.
var protoMagic = []byte("k8s\x00")

type storageCodec struct{}

func (storageCodec) Encode(obj runtime.Object, w io.Writer) error { return protoSer.Encode(obj, w) }

func (storageCodec) Identifier() runtime.Identifier { return "skiff-storage-protobuf" }

func (storageCodec) Decode(data []byte, gvk *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if bytes.HasPrefix(data, protoMagic) {
		return protoSer.Decode(data, gvk, into)
	}
	return jsonCodec.Decode(data, gvk, into)
}

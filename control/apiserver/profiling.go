package apiserver

import (
	"net/http"
	"net/http/pprof"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveProfiling exposes Go's profiles under /debug/pprof/ to cluster
// admins (system:masters), as kube-apiserver's --profiling does:
//
//	kubectl get --raw '/debug/pprof/profile?seconds=20' > cpu.pprof
func (s *Server) serveProfiling(w http.ResponseWriter, r *http.Request) {
	if u := userOf(r); !u.isMaster() {
		writeError(w, apierrors.NewForbidden(schema.GroupResource{}, r.URL.Path, errNotAdmin))
		return
	}
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}

type adminOnly struct{}

func (adminOnly) Error() string { return "profiling is for cluster admins (group system:masters)" }

var errNotAdmin error = adminOnly{}

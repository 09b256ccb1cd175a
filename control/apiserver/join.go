package apiserver

import (
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// JoinRequest is the body of POST /skiff/v1/join. The agent first fetches
// GET /cacerts (anonymous), checks its SHA-256 against the hash in its join
// token, and only then sends the token secret as "Authorization: Bearer".
type JoinRequest struct {
	// NodeName is the node's name (a DNS-1123 subdomain).
	NodeName string `json:"nodeName"`
	// CSR is a PEM "CERTIFICATE REQUEST" for the node's client key.
	CSR string `json:"csr"`
}

// JoinResponse carries the node's client certificate (CN
// system:node:<name>, O system:nodes) and the cluster CA, both PEM.
type JoinResponse struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// joinSecret reads the secret `skiff token create` keeps in <data-dir>/token.
func (s *Server) joinSecret() string {
	if s.DataDir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(s.DataDir, "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *Server) serveCACerts(w http.ResponseWriter, r *http.Request) {
	if s.PKI == nil {
		writeError(w, apierrors.NewNotFound(schemaGR("", ""), "cacerts"))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(s.PKI.CAPEM)
}

func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, apierrors.NewMethodNotSupported(schemaGR("", "join"), r.Method))
		return
	}
	secret := s.joinSecret()
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	local := secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
	if s.PKI == nil || got == "" || !local && !s.sharedJoinSecret(r.Context(), got) {
		writeError(w, apierrors.NewUnauthorized("invalid join token secret; create a token with `skiff token create` on the server"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var jr JoinRequest
	if err := json.Unmarshal(body, &jr); err != nil {
		writeError(w, apierrors.NewBadRequest("join request: "+err.Error()))
		return
	}
	if errs := validation.IsDNS1123Subdomain(jr.NodeName); len(errs) > 0 {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("nodeName %q: %s", jr.NodeName, strings.Join(errs, "; "))))
		return
	}
	blk, _ := pem.Decode([]byte(jr.CSR))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		writeError(w, apierrors.NewBadRequest("csr must be a PEM CERTIFICATE REQUEST"))
		return
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		writeError(w, apierrors.NewBadRequest("csr: "+err.Error()))
		return
	}
	der, err := s.PKI.Sign(pkix.Name{CommonName: "system:node:" + jr.NodeName, Organization: []string{"system:nodes"}},
		x509.ExtKeyUsageClientAuth, nil, nil, csr.PublicKey)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	s.Log.Info("node joined", "node", jr.NodeName, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, JoinResponse{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CA:          string(s.PKI.CAPEM),
	})
}

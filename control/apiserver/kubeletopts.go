package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// kubeletPath checks the options of an API request for the pod
// subresource sub (log, exec, attach or portforward) and returns the
// kubelet path and query that serve it:
//
//	log         /containerLogs/{ns}/{pod}/{container}?follow&previous&timestamps&tailLines&sinceSeconds&sinceTime&limitBytes
//	exec        /exec/{ns}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=1
//	attach      /attach/{ns}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	portforward /portForward/{ns}/{pod}?port=…
//
// exec and attach carry the kubelet's stream flags (input, output, error,
// tty set to "1", as kube-apiserver sends them) and, for kubelets that read
// the API's names, stdin, stdout and stderr set to "true". Bad options are
// 400 Status errors.
func kubeletPath(pod *corev1.Pod, sub string, q url.Values) (string, url.Values, error) {
	base := "/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name)
	out := url.Values{}
	if sub == "portforward" {
		for _, list := range q["ports"] {
			for _, p := range strings.Split(list, ",") {
				p = strings.TrimSpace(p)
				if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
					return "", nil, apierrors.NewBadRequest(fmt.Sprintf("ports: %q is not a valid port number; use 1-65535", p))
				}
				out.Add("port", p)
			}
		}
		return "/portForward" + base, out, nil
	}
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return "", nil, err
	}
	base += "/" + url.PathEscape(container)
	flags := map[string]bool{}
	for _, name := range []string{"follow", "previous", "timestamps", "stdin", "stdout", "stderr", "tty"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %q is not a boolean; use true or false", name, v))
		}
		flags[name] = b
	}
	switch sub {
	case "log":
		for _, name := range []string{"follow", "previous", "timestamps"} {
			if flags[name] {
				out.Set(name, "true")
			}
		}
		for _, p := range []struct {
			name string
			min  int64
		}{{"tailLines", 0}, {"sinceSeconds", 1}, {"limitBytes", 1}} {
			v := q.Get(p.name)
			if v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < p.min {
				return "", nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %q must be an integer of at least %d", p.name, v, p.min))
			}
			out.Set(p.name, strconv.FormatInt(n, 10))
		}
		if v := q.Get("sinceTime"); v != "" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return "", nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: %q is not an RFC 3339 time such as 2006-01-02T15:04:05Z", v))
			}
			if out.Has("sinceSeconds") {
				return "", nil, apierrors.NewBadRequest("at most one of sinceTime or sinceSeconds may be specified")
			}
			out.Set("sinceTime", v)
		}
		return "/containerLogs" + base, out, nil
	case "exec", "attach":
		if !flags["stdin"] && !flags["stdout"] && !flags["stderr"] {
			return "", nil, apierrors.NewBadRequest("you must specify at least one of stdin, stdout and stderr")
		}
		if sub == "exec" {
			if len(q["command"]) == 0 || q["command"][0] == "" {
				return "", nil, apierrors.NewBadRequest("you must specify a command to run (the command query parameter, one value per argument)")
			}
			out["command"] = q["command"]
		}
		for api, kubelet := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if flags[api] {
				out.Set(kubelet, "1")
				if api != "tty" {
					out.Set(api, "true")
				}
			}
		}
		return "/" + sub + base, out, nil
	}
	return "", nil, apierrors.NewNotFound(schemaGR("", "pods/"+sub), pod.Name)
}

// podContainer resolves the container option: a named container (regular,
// init or ephemeral), or the only container when none is named.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if name == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		if len(inits) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, n := range append(names, inits...) {
		if n == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// statusRoundTripper passes kubelet responses through, except that an
// error response that is not already a JSON Status is wrapped in one
// (same code, the kubelet's text as message) so that kubectl shows it.
type statusRoundTripper struct {
	rt http.RoundTripper
}

// WrappedRoundTripper lets the upgrade-aware proxy find the dialer and TLS
// settings of the underlying transport.
func (t *statusRoundTripper) WrappedRoundTripper() http.RoundTripper { return t.rt }

func (t *statusRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	b := kubeletErrorStatus(resp.StatusCode, req.Method, body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("Content-Encoding")
	return resp, nil
}

// kubeletErrorStatus wraps a kubelet's non-JSON error body in a Status
// JSON with the same code.
func kubeletErrorStatus(code int, method string, body []byte) []byte {
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	st := apierrors.NewGenericServerResponse(code, method, schemaGR("", "pods"), "", "", 0, false).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	st.Message = "kubelet: " + msg
	st.Details = nil
	st.Code = int32(code)
	b, _ := json.Marshal(&st)
	return b
}

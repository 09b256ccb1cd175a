package apiserver

import (
	"net/http"
	"testing"
)

func TestServesHTTP2AndHTTP1(t *testing.T) {
	run := startTest(t)
	c := rawClient(t, run)
	c.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	resp, err := c.Get(run.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("HTTP/2 request answered with %s %d", resp.Proto, resp.StatusCode)
	}
	c1 := rawClient(t, run)
	c1.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
	resp, err = c1.Get(run.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
		t.Fatalf("HTTP/1.1 request answered with %s %d", resp.Proto, resp.StatusCode)
	}
}

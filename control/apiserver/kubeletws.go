package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	httpstreamspdy "k8s.io/apimachinery/pkg/util/httpstream/spdy"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// streamIdleTimeout closes an exec or attach session that has carried no
// data for this long, as the kubelet does by default.
const streamIdleTimeout = 4 * time.Hour

// translateToSPDY serves an exec or attach request that arrives as a
// WebSocket with the v5.channel.k8s.io protocol (what kubectl 1.30 and
// later try first) by speaking SPDY to the kubelet, the protocol every
// kubelet serves. Without it such clients would first fail against the
// kubelet's WebSocket server, which stops at v4, and then retry with SPDY.
//
// The client's WebSocket is accepted only after a TCP connection to the
// kubelet succeeds, so an unreachable node is still a plain 503 Status.
// Errors after that (the kubelet refused the stream, the command failed)
// travel as a Status on the error channel, which is where kubectl looks.
func (s *Server) translateToSPDY(w http.ResponseWriter, r *http.Request, loc *url.URL, node string, q url.Values) {
	probe, err := net.DialTimeout("tcp", loc.Host, 10*time.Second)
	if err != nil {
		kubeletErrorResponder{log: s.Log, node: node, addr: loc.Host}.Error(w, r, err)
		return
	}
	probe.Close()
	stdin, stdout, stderr, tty := q.Get("input") == "1", q.Get("output") == "1", q.Get("error") == "1", q.Get("tty") == "1"
	channel := func(want bool, t wsstream.ChannelType) wsstream.ChannelType {
		if want {
			return t
		}
		return wsstream.IgnoreChannel
	}
	// Channels 0-4 of the channel protocol: stdin, stdout, stderr, error, resize.
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommandconsts.StreamProtocolV5Name: {Binary: true, Channels: []wsstream.ChannelType{
			channel(stdin, wsstream.ReadChannel), channel(stdout, wsstream.WriteChannel), channel(stderr && !tty, wsstream.WriteChannel),
			// The error channel is read too, only to see the client hang up.
			wsstream.ReadWriteChannel, channel(tty, wsstream.ReadChannel)}},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	hw := &hijackRecorder{ResponseWriter: w}
	_, streams, err := conn.Open(hw, r)
	if err != nil {
		s.Log.Debug("WebSocket upgrade failed", "url", r.URL.String(), "err", err)
		return
	}
	defer conn.Close()
	s.Log.Debug("exec/attach WebSocket open", "node", node, "kubelet", loc.Host)
	// An empty frame on the first writable channel tells the client the
	// session is open.
	first := 3
	if stdout {
		first = 1
	} else if stderr && !tty {
		first = 2
	}
	streams[first].Write([]byte{})

	opts := remotecommand.StreamOptions{Tty: tty}
	if stdin {
		opts.Stdin = streams[0]
	}
	if stdout {
		opts.Stdout = streams[1]
	}
	if stderr && !tty {
		opts.Stderr = streams[2]
	}
	if tty {
		opts.TerminalSizeQueue = &sizeQueue{dec: json.NewDecoder(streams[4])}
	}
	err = s.streamSPDY(r.Context(), loc, opts)
	if err != nil {
		s.Log.Debug("exec/attach stream ended", "node", node, "kubelet", loc.Host, "err", err)
	}
	b, _ := json.Marshal(streamStatus(err, node, loc.Host))
	streams[3].Write(b)
	// Send a WebSocket close frame (status 1000, normal closure) so that the
	// client hangs up first and the connection's reader ends on a clean
	// EOF, instead of logging a socket torn down under it.
	if hw.conn != nil {
		if _, err := hw.conn.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err == nil {
			hungUp := make(chan struct{})
			go func() {
				io.Copy(io.Discard, streams[3])
				close(hungUp)
			}()
			select {
			case <-hungUp:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// hijackRecorder keeps the connection the WebSocket server hijacks.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("connection cannot be hijacked: %T", h.ResponseWriter)
	}
	c, rw, err := hj.Hijack()
	h.conn = c
	return c, rw, err
}

// streamSPDY runs one exec or attach session against the kubelet at loc.
func (s *Server) streamSPDY(ctx context.Context, loc *url.URL, opts remotecommand.StreamOptions) error {
	rt, err := httpstreamspdy.NewRoundTripperWithConfig(httpstreamspdy.RoundTripperConfig{
		TLS:        s.kubelet.tls,
		Proxier:    func(*http.Request) (*url.URL, error) { return nil, nil },
		PingPeriod: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewSPDYExecutorForTransports(rt, rt, http.MethodPost, loc)
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, opts)
}

// streamStatus is the error-channel message for the end of a session:
// Success, a NonZeroExitCode failure with the exit code as cause (kubectl
// exits with that code), or a failure that says what went wrong.
func streamStatus(err error, node, addr string) *metav1.Status {
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	if err == nil {
		return st
	}
	st.Status = metav1.StatusFailure
	var exit utilexec.ExitError
	var api apierrors.APIStatus
	switch {
	case errors.As(err, &exit) && exit.Exited():
		st.Reason = remotecommandconsts.NonZeroExitCodeReason
		st.Message = err.Error()
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type: remotecommandconsts.ExitCodeCauseType, Message: strconv.Itoa(exit.ExitStatus())}}}
	case errors.As(err, &api):
		a := api.Status()
		a.TypeMeta = st.TypeMeta
		return &a
	default:
		st.Reason = metav1.StatusReasonInternalError
		st.Code = http.StatusInternalServerError
		st.Message = fmt.Sprintf("stream to the kubelet of node %q at %s failed: %v", node, addr, err)
	}
	return st
}

// sizeQueue feeds terminal resize messages (JSON {"Width":…,"Height":…}
// on the resize channel) to the SPDY session.
type sizeQueue struct {
	dec *json.Decoder
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	var size remotecommand.TerminalSize
	if err := q.dec.Decode(&size); err != nil {
		return nil // the client closed the resize channel or sent garbage: no more resizes
	}
	return &size
}

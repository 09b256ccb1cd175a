package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/skiffnet/skiff/control/join"
	"github.com/skiffnet/skiff/internal/nodepods"
	"github.com/skiffnet/skiff/node/proxy"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffnet/skiff/control/kubelet"
	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/dns/nodelocal"
	"github.com/skiffnet/skiff/internal/memtarget"
	skctrd "github.com/skiffnet/skiff/node/containerd"
	"github.com/skiffnet/skiff/node/kubeletapi"
	"github.com/skiffnet/skiff/node/nodeip"
	"github.com/skiffnet/skiff/node/staticpods"
)

func init() {
	register("agent", "run a node: register the Node, supervise containerd, run its pods", runAgent)
}

func runAgent(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to use instead of --server/--token (e.g. /etc/skiff/admin.kubeconfig)")
	server := fs.String("server", "", "API server URL to join, e.g. https://192.168.56.10:6443 (with --token)")
	token := fs.String("token", os.Getenv("SKIFF_TOKEN"), "join token from `skiff token create` on the server")
	host, _ := os.Hostname()
	nodeName := fs.String("node-name", strings.ToLower(host), "name of this node's Node object")
	nodeIP := fs.String("node-ip", "", "this node's InternalIP (default: chosen from the interfaces, never a NAT address such as Vagrant's 10.0.2.15)")
	podCIDR := fs.String("pod-cidr", "", "pod address range of this node (empty: take spec.podCIDR of an existing Node)")
	dataDir := fs.String("data-dir", "/var/lib/skiff/agent", "agent state: containerd, IPAM, pod files and logs")
	socket := fs.String("containerd-socket", "", "use this running containerd instead of starting one")
	clusterDNS := fs.String("cluster-dns", "10.96.0.10", "comma-separated nameservers for dnsPolicy ClusterFirst pods")
	clusterDomain := fs.String("cluster-domain", "cluster.local", "cluster DNS domain")
	shimGroups := fs.Int("shim-groups", 8, "share this many containerd shims among the node's pods: saves a shim process start and about 2 MiB per pod (0: one shim per pod, as Kubernetes' CRI does; a shim that dies loses track of every pod it serves)")
	noProxy := fs.Bool("disable-service-proxy", false, "do not run the eBPF service dataplane (leave Services to another proxy)")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:10249", "serve Prometheus metrics here (empty: off)")
	kubeletPort := fs.Int("kubelet-port", 10250, "HTTPS port of the kubelet API (logs, exec, attach, port-forward) the API server calls (0: off)")
	kubeletBind := fs.String("kubelet-bind-address", "", "address the kubelet API listens on (default: --node-ip)")
	manifestDir := fs.String("pod-manifest-path", staticpods.DefaultDir, "directory of static pod manifests (*.yaml, *.yml, *.json, one Pod each), run on this node as mirror pods (empty: off)")
	noNodeLocalDNS := fs.Bool("disable-node-local-dns", false, "do not serve cluster DNS on this node (pods use the kube-dns Service)")
	sockCgroup := fs.String("sock-lb-cgroup", proxy.CgroupAuto, "cgroup v2 directory whose processes (the node itself, hostNetwork pods) reach Services and hostPorts through socket-level eBPF balancing; auto = the cgroup v2 root, - = off")
	memTarget := fs.String("memory-target", "0", "keep the Go heap near this size by collecting garbage earlier; it rises with the live data (0: Go's default; GOMEMLIMIT overrides)")
	var regFlags skctrd.RegistryFlags
	regFlags.Register(fs) // --registry-config FILE, --insecure-registry HOST:PORT
	if err := fs.Parse(args); err != nil {
		return err
	}
	regCfg, err := regFlags.Load()
	if err != nil {
		return err
	}
	memBase, err := memtarget.Parse(*memTarget)
	if err != nil {
		return fmt.Errorf("--memory-target: %w", err)
	}
	if *kubeconfig == "" && (*server == "" || *token == "") {
		return errors.New("give --server and --token (from `skiff token create` on the server), or --kubeconfig")
	}
	if *nodeIP == "" {
		ip, why, err := nodeip.Detect()
		if err != nil {
			return err
		}
		*nodeIP = ip.String()
		slog.Info("node IP chosen", "ip", *nodeIP, "why", why, "override", "--node-ip")
	}
	if _, err := netip.ParseAddr(*nodeIP); err != nil {
		return fmt.Errorf("--node-ip %q is not an IP address: give the node's routable address", *nodeIP)
	}
	if *kubeletPort < 0 || *kubeletPort > 65535 {
		return fmt.Errorf("--kubelet-port %d is out of range 0-65535", *kubeletPort)
	}
	if *kubeletBind == "" {
		*kubeletBind = *nodeIP
	} else if _, err := netip.ParseAddr(*kubeletBind); err != nil {
		return fmt.Errorf("--kubelet-bind-address %q is not an IP address", *kubeletBind)
	}
	if *podCIDR != "" {
		if _, err := netip.ParsePrefix(*podCIDR); err != nil {
			return fmt.Errorf("--pod-cidr %q: %w (want e.g. 10.244.0.0/24)", *podCIDR, err)
		}
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("create --data-dir: %w", err)
	}
	if *kubeconfig == "" {
		// Checks the server's CA against the token before sending anything.
		kc, err := join.Join(context.Background(), *server, *token, *nodeName, filepath.Join(dir, "pki"))
		if err != nil {
			return err
		}
		*kubeconfig = kc
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", *kubeconfig, err)
	}
	// client-go's 5/10 would queue pod status updates for seconds when many
	// pods start. Above the kubelet's 50/100 because each starting pod also
	// asks for its service-account token and reads kube-root-ca.crt: a
	// burst of 30 pods is about 200 requests.
	rc.QPS, rc.Burst = 100, 300
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.Default().With("component", "agent", "node", *nodeName)
	go memtarget.Run(ctx, memBase, log)

	node, err := kubelet.RegisterNode(ctx, client, kubelet.NodeInfo{Name: *nodeName, IP: *nodeIP, PodCIDR: *podCIDR, DataDir: dir, KubeletPort: *kubeletPort})
	if err != nil {
		return err
	}
	if node.Spec.PodCIDR == "" {
		return fmt.Errorf("node %s has no podCIDR: pass --pod-cidr", *nodeName)
	}
	cidr, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		return fmt.Errorf("node %s podCIDR %q: %w", *nodeName, node.Spec.PodCIDR, err)
	}
	log.Info("node registered", "podCIDR", cidr, "ip", *nodeIP)

	var cc *ctrd.Client
	var runtimeOpts ctrd.NewContainerOpts
	if *socket != "" {
		cc, err = ctrd.New(*socket, ctrd.WithDefaultNamespace(skctrd.Namespace), ctrd.WithTimeout(10*time.Second))
		if err != nil {
			return fmt.Errorf("connect to containerd at %s: %w", *socket, err)
		}
		defer cc.Close()
		runtimeOpts = skctrd.RuntimeOpts(dir)
	} else {
		d, err := skctrd.Start(ctx, skctrd.Options{DataDir: dir})
		if err != nil {
			return err
		}
		defer d.Close() // leaves containerd and pods running for the next start
		cc, runtimeOpts = d.Client(), d.RuntimeOpts()
	}
	pn, err := podnet.New(podnet.Config{DataDir: dir, PodCIDR: cidr})
	if err != nil {
		return err
	}
	defer pn.Close()
	var dns []string
	for _, s := range strings.Split(*clusterDNS, ",") {
		if s = strings.TrimSpace(s); s != "" {
			dns = append(dns, s)
		}
	}
	// One watch of Services for the proxy and the kubelet's service
	// environment variables.
	shared := informers.NewSharedInformerFactory(client, 10*time.Minute)
	svcInf := shared.Core().V1().Services()
	// One watch of this node's pods for the kubelet, the proxy's hostPorts
	// and static pods.
	pods := nodepods.Factory(client, *nodeName)
	k, err := kubelet.New(kubelet.Config{
		NodeName: *nodeName, NodeIP: *nodeIP, Client: client, Containerd: cc, RuntimeOpts: runtimeOpts,
		Net: pn, DataDir: dir, ClusterDNS: dns, ClusterDomain: *clusterDomain,
		Services: &kubelet.ServiceCache{Lister: svcInf.Lister(), Synced: svcInf.Informer().HasSynced}, Pods: pods,
		ShimGroups: *shimGroups,
	})
	if err != nil {
		return err
	}
	shared.Start(ctx.Done())
	puller, err := skctrd.NewPuller(cc, skctrd.PullerOptions{Registries: regCfg, Logger: log})
	if err != nil {
		return err
	}
	k.SetImagePuller(puller)
	if *manifestDir != "" {
		go func() {
			if err := staticpods.Run(ctx, staticpods.Config{Client: client, NodeName: *nodeName, NodeUID: node.UID, Dir: *manifestDir, Logger: log, Pods: pods}); err != nil {
				log.Error("static pods stopped; manifests in --pod-manifest-path are not run", "dir", *manifestDir, "err", err)
			}
		}()
	}
	go kubelet.Heartbeat(ctx, client, *nodeName, dir, 10*time.Second, log)
	if *kubeletPort > 0 {
		api, err := newKubeletAPI(k, rc, dir, *nodeName, *nodeIP, *kubeletBind)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(*kubeletBind, strconv.Itoa(*kubeletPort))
		go func() {
			if err := api.ListenAndServe(ctx, addr); err != nil {
				log.Error("kubelet API stopped; kubectl logs/exec/port-forward to this node fail", "addr", addr, "err", err)
			}
		}()
	}
	if !*noProxy {
		go func() {
			if err := proxy.Run(ctx, proxy.Config{Node: *nodeName, Client: client, Informers: shared, Pods: pods, NodeIP: netip.MustParseAddr(*nodeIP), SockCgroup: *sockCgroup}); err != nil {
				log.Error("service proxy stopped; ClusterIP traffic is not balanced on this node", "err", err)
			}
		}()
	}
	if len(dns) > 0 && !*noNodeLocalDNS {
		clusterDNSIP, err := netip.ParseAddr(dns[0])
		if err != nil {
			return fmt.Errorf("--cluster-dns %q: %w (want an IPv4 address such as 10.96.0.10)", dns[0], err)
		}
		steerNode := *nodeName // the proxy's pins, where the steering map lives
		if *noProxy {
			steerNode = "" // no eBPF dataplane: serve on 169.254.20.10 without steering
		}
		nl, err := nodelocal.Start(ctx, nodelocal.Config{Client: client, ClusterDNSIP: clusterDNSIP, Zone: *clusterDomain, Node: steerNode})
		if err != nil {
			log.Error("node-local DNS not started; pods resolve through the kube-dns Service", "err", err)
		} else {
			defer nl.Stop() // clears the heartbeat first: pods fall back at once
		}
	}
	if *metricsAddr != "" {
		go func() {
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.Handler())
			if err := http.ListenAndServe(*metricsAddr, mux); err != nil {
				log.Warn("metrics server stopped; pass --metrics-addr with a free address", "addr", *metricsAddr, "err", err)
			}
		}()
	}
	return k.Run(ctx)
}

// newKubeletAPI builds the kubelet API server: a self-signed serving
// certificate in DATA/pki covering the node name, IP and bind address, and
// client certificates checked against the cluster CA of rc.
func newKubeletAPI(k *kubelet.Kubelet, rc *rest.Config, dataDir, nodeName, nodeIP, bind string) (*kubeletapi.Server, error) {
	caPEM := rc.TLSClientConfig.CAData
	if len(caPEM) == 0 && rc.TLSClientConfig.CAFile != "" {
		b, err := os.ReadFile(rc.TLSClientConfig.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read cluster CA for the kubelet API: %w", err)
		}
		caPEM = b
	}
	pool := x509.NewCertPool()
	if len(caPEM) == 0 || !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the kubeconfig has no cluster CA (certificate-authority-data), which the kubelet API needs to authenticate the API server; use a kubeconfig with one, or --kubelet-port 0")
	}
	ips := []net.IP{net.ParseIP(nodeIP)}
	if b := net.ParseIP(bind); b != nil && !b.IsUnspecified() {
		ips = append(ips, b)
	}
	cert, err := kubeletapi.EnsureServingCert(filepath.Join(dataDir, "pki"), nodeName, ips)
	if err != nil {
		return nil, err
	}
	return kubeletapi.New(kubeletapi.Config{Kubelet: k, ClientCAs: pool, Cert: cert})
}

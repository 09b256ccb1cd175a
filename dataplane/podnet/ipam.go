package podnet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PodRef identifies the pod that owns an address. UID is the key: a pod
// recreated with the same name is a different owner.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

func (p PodRef) String() string { return p.Namespace + "/" + p.Name + " (" + p.UID + ")" }

// Allocation is one address handed out, as stored on disk.
type Allocation struct {
	IP       netip.Addr `json:"ip"`
	Pod      PodRef     `json:"pod"`
	HostVeth string     `json:"hostVeth,omitempty"`
	NetNS    string     `json:"netns,omitempty"`
	Created  time.Time  `json:"created"`
}

// ErrPoolExhausted is returned when every address in the PodCIDR is taken.
var ErrPoolExhausted = errors.New("pod CIDR has no free address")

// IPAM hands out addresses from one PodCIDR and keeps one file per
// allocation in its directory (written to a temp file, fsynced, renamed,
// directory fsynced), so the set on disk is exactly the set handed out, even
// after a crash. A lock file keeps a second process off the same directory.
type IPAM struct {
	mu     sync.Mutex
	dir    string
	prefix netip.Prefix
	lock   *os.File
	byIP   map[netip.Addr]Allocation
	byUID  map[string]netip.Addr
	cursor netip.Addr
	log    *slog.Logger
}

// OpenIPAM opens (creating if needed) the allocation store in dir for cidr
// and loads every allocation there. Allocations outside cidr (left from an
// earlier PodCIDR) are kept and listed so GC or Release can free them, but
// never handed out again.
func OpenIPAM(dir string, cidr netip.Prefix) (*IPAM, error) {
	if !cidr.IsValid() {
		return nil, fmt.Errorf("podnet: invalid PodCIDR %v", cidr)
	}
	cidr = cidr.Masked()
	if !cidr.Addr().Is4() {
		return nil, fmt.Errorf("podnet: PodCIDR %v is IPv6; only IPv4 pod networks are supported", cidr)
	}
	if cidr.Bits() > 30 {
		return nil, fmt.Errorf("podnet: PodCIDR %v is too small; use /30 or larger (e.g. /24)", cidr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("podnet: create IPAM dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("podnet: IPAM dir %s is in use by another process (another skiff agent on this data dir?): %w", dir, err)
	}
	m := &IPAM{dir: dir, prefix: cidr, lock: lock, byIP: map[netip.Addr]Allocation{}, byUID: map[string]netip.Addr{},
		cursor: cidr.Addr(), log: slog.Default().With("component", "ipam", "cidr", cidr.String())}
	if err := m.load(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *IPAM) load() error {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("podnet: read IPAM dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(m.dir, name)) // a write that never got renamed
			continue
		}
		ip, err := netip.ParseAddr(name)
		if err != nil || e.IsDir() {
			continue
		}
		a := Allocation{IP: ip}
		data, err := os.ReadFile(filepath.Join(m.dir, name))
		if err == nil {
			err = json.Unmarshal(data, &a)
		}
		if err != nil || a.IP != ip {
			// Keep the address reserved but ownerless: GC frees it.
			m.log.Warn("unreadable IPAM record; address stays reserved until GC", "ip", ip, "err", err)
			a = Allocation{IP: ip}
		}
		m.byIP[ip] = a
		if a.Pod.UID != "" && m.prefix.Contains(ip) {
			m.byUID[a.Pod.UID] = ip
		}
		if m.prefix.Contains(ip) && m.cursor.Less(ip) {
			m.cursor = ip
		}
	}
	return nil
}

// Close releases the directory lock.
func (m *IPAM) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock == nil {
		return nil
	}
	err := m.lock.Close()
	m.lock = nil
	return err
}

// Prefix is the PodCIDR.
func (m *IPAM) Prefix() netip.Prefix { return m.prefix }

// Router is the first host address of the PodCIDR, which IPAM never hands
// to a pod: routing uses it as the node's own address in the pod network.
func (m *IPAM) Router() netip.Addr { return m.prefix.Addr().Next() }

// Size is how many addresses pods can get.
func (m *IPAM) Size() int {
	return 1<<(32-m.prefix.Bits()) - 3 // network, router, broadcast
}

func (m *IPAM) usable(ip netip.Addr) bool {
	if !m.prefix.Contains(ip) || ip == m.prefix.Addr() || ip == m.Router() {
		return false
	}
	return ip != lastAddr(m.prefix)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Allocate returns pod's address, handing out a new one if pod has none.
// Addresses are taken round-robin, so a just-freed address is reused last.
func (m *IPAM) Allocate(pod PodRef, hostVeth, netns string) (netip.Addr, error) {
	if pod.UID == "" {
		return netip.Addr{}, fmt.Errorf("podnet: pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ip, ok := m.byUID[pod.UID]; ok {
		a := m.byIP[ip]
		if a.HostVeth != hostVeth || a.NetNS != netns || a.Pod != pod {
			a.HostVeth, a.NetNS, a.Pod = hostVeth, netns, pod
			if err := m.write(a); err != nil {
				return netip.Addr{}, err
			}
			m.byIP[ip] = a
		}
		return ip, nil
	}
	ip := m.cursor
	for i := 0; i < 1<<(32-m.prefix.Bits()); i++ {
		ip = ip.Next()
		if !m.prefix.Contains(ip) {
			ip = m.prefix.Addr()
		}
		if _, taken := m.byIP[ip]; taken || !m.usable(ip) {
			continue
		}
		a := Allocation{IP: ip, Pod: pod, HostVeth: hostVeth, NetNS: netns, Created: time.Now().UTC()}
		if err := m.write(a); err != nil {
			return netip.Addr{}, err
		}
		m.byIP[ip], m.byUID[pod.UID], m.cursor = a, ip, ip
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("podnet: %w: all %d addresses of %v are allocated (run GC to free addresses of deleted pods)", ErrPoolExhausted, m.Size(), m.prefix)
}

// Lookup returns pod's allocation, if it has one.
func (m *IPAM) Lookup(uid string) (Allocation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, ok := m.byUID[uid]
	if !ok {
		return Allocation{}, false
	}
	return m.byIP[ip], true
}

// Release frees ip. Releasing a free address is not an error.
func (m *IPAM) Release(ip netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.release(ip)
}

// ReleasePod frees the address of the pod with this UID, if any.
func (m *IPAM) ReleasePod(uid string) (netip.Addr, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ip, ok := m.byUID[uid]
	if !ok {
		return netip.Addr{}, false, nil
	}
	return ip, true, m.release(ip)
}

func (m *IPAM) release(ip netip.Addr) error {
	a, ok := m.byIP[ip]
	if !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(m.dir, ip.String())); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("podnet: release %v: %w", ip, err)
	}
	if err := syncDir(m.dir); err != nil {
		return err
	}
	delete(m.byIP, ip)
	if a.Pod.UID != "" && m.byUID[a.Pod.UID] == ip {
		delete(m.byUID, a.Pod.UID)
	}
	return nil
}

// ListAllocated returns every allocation, sorted by address.
func (m *IPAM) ListAllocated() []Allocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Allocation, 0, len(m.byIP))
	for _, a := range m.byIP {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// GC frees every allocation whose owner is not live and returns them.
// Ownerless records (unreadable files) are always freed, and so is a record
// from an earlier PodCIDR whose owner already has an address in this one.
func (m *IPAM) GC(live func(PodRef) bool) ([]Allocation, error) {
	var freed []Allocation
	for _, a := range m.ListAllocated() {
		if a.Pod.UID != "" && live(a.Pod) {
			m.mu.Lock()
			cur, has := m.byUID[a.Pod.UID]
			m.mu.Unlock()
			if m.prefix.Contains(a.IP) || !has || cur == a.IP {
				continue
			}
		}
		if err := m.Release(a.IP); err != nil {
			return freed, err
		}
		freed = append(freed, a)
	}
	return freed, nil
}

// write stores a durably: temp file, fsync, rename, fsync of the directory.
func (m *IPAM) write(a Allocation) error {
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(m.dir, ".tmp-"+a.IP.String()+"-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("podnet: record %v: %w", a.IP, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(m.dir, a.IP.String()))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("podnet: record %v: %w (is the data dir writable and not full?)", a.IP, err)
	}
	return syncDir(m.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("podnet: fsync %s: %w", dir, err)
	}
	return nil
}

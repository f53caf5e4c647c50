package orbit

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func joinForLeases(t testing.TB) *Fleet {
	t.Helper()
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkContest(name) })
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLeaseClaimConflictRenewRelease(t *testing.T) {
	f := joinForLeases(t)
	if _, ok, err := f.Holder("leader"); ok || err != nil {
		t.Fatalf("holder before any claim: %v %v", ok, err)
	}
	l, err := f.Claim("leader", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l.Token() == 0 || l.Subject != "leader" {
		t.Fatalf("lease %+v token %d", l, l.Token())
	}
	h, ok, err := f.Holder("leader")
	if !ok || err != nil || h.NodeID != f.NodeID() || h.PID != uint32(os.Getpid()) || h.Token != l.Token() ||
		h.ExpiresAtMs <= h.ClaimedAtMs {
		t.Fatalf("holder %+v ok=%v err=%v", h, ok, err)
	}
	// This process holds it too: a second claim conflicts.
	if _, err := f.Claim("leader", time.Second); !errors.Is(err, StatusConflict) {
		t.Fatalf("second claim: %v", err)
	}
	if err := l.Renew(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if h2, _, _ := f.Holder("leader"); h2.ExpiresAtMs <= h.ExpiresAtMs {
		t.Fatalf("renew did not extend: %d -> %d", h.ExpiresAtMs, h2.ExpiresAtMs)
	}
	first := l.Token()
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if err := l.Renew(time.Second); !errors.Is(err, StatusLeaseLost) {
		t.Fatalf("renew after release: %v", err)
	}
	if _, ok, _ := f.Holder("leader"); ok {
		t.Fatal("released lease still held")
	}
	l.Close()
	l.Close()
	if l.Token() != 0 || l.Release() != ErrClosed || l.Renew(time.Second) != ErrClosed {
		t.Fatal("closed lease still usable")
	}
	// Close releases a held lease; the next grant has a higher token.
	l2, err := f.Claim("leader", 10*time.Second)
	if err != nil || l2.Token() <= first {
		t.Fatalf("reclaim: %v token %d after %d", err, l2.Token(), first)
	}
	l2.Close()
	if _, ok, _ := f.Holder("leader"); ok {
		t.Fatal("Close did not release")
	}
}

func TestLeaseExpiryAndTakeover(t *testing.T) {
	f := joinForLeases(t)
	old, err := f.Claim("job", 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	time.Sleep(60 * time.Millisecond)
	nu, err := f.Claim("job", 10*time.Second)
	if err != nil {
		t.Fatalf("claim after expiry: %v", err)
	}
	defer nu.Close()
	if nu.Token() <= old.Token() {
		t.Fatalf("token %d after %d", nu.Token(), old.Token())
	}
	if err := old.Renew(time.Second); !errors.Is(err, StatusLeaseLost) {
		t.Fatalf("renew of a taken lease: %v", err)
	}
	if err := old.Release(); !errors.Is(err, StatusLeaseLost) {
		t.Fatalf("release of a taken lease: %v", err)
	}
	if h, ok, _ := f.Holder("job"); !ok || h.Token != nu.Token() {
		t.Fatalf("holder after takeover: %+v", h)
	}
}

func TestLeaseBadInput(t *testing.T) {
	f := joinForLeases(t)
	for _, tc := range []struct {
		subject string
		ttl     time.Duration
	}{{"", time.Second}, {strings.Repeat("s", 129), time.Second}, {"a\x00b", time.Second}, {"s", 0}, {"s", -time.Second}} {
		if _, err := f.Claim(tc.subject, tc.ttl); !errors.Is(err, StatusInvalidArgument) {
			t.Errorf("claim %q %v: %v", tc.subject, tc.ttl, err)
		}
	}
	if _, _, err := f.Holder(""); !errors.Is(err, StatusInvalidArgument) {
		t.Errorf("holder of empty subject: %v", err)
	}
	l, _ := f.Claim("s", time.Microsecond) // rounds up to 1 ms, not 0
	if l == nil {
		t.Fatal("sub-millisecond TTL refused")
	}
	l.Close()
	if err := f.OpenContest(&ContestOptions{Capacity: 1 << 20}); !errors.Is(err, StatusInvalidArgument) {
		t.Errorf("contest capacity over the limit: %v", err)
	}
	o, err := Observe(f.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Claim("s", time.Second); !errors.Is(err, StatusReadOnly) {
		t.Errorf("claim through an observer: %v", err)
	}
	f2, _ := Join(f.Name, nil)
	f2.Close()
	if _, err := f2.Claim("s", time.Second); err != ErrClosed {
		t.Errorf("claim through a closed fleet: %v", err)
	}
}

// TestLeaseGoroutinesExclude: goroutines of one process contend for one
// subject; never two inside at once, tokens strictly increase.
func TestLeaseGoroutinesExclude(t *testing.T) {
	f := joinForLeases(t)
	var inside, grants atomic.Int32
	var mu sync.Mutex
	var last uint64
	var wg sync.WaitGroup
	deadline := time.Now().Add(300 * time.Millisecond)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				l, err := f.Claim("cs", 5*time.Second)
				if errors.Is(err, StatusConflict) {
					runtime.Gosched()
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				mu.Lock()
				if l.Token() <= last {
					t.Errorf("token %d after %d", l.Token(), last)
				}
				last = l.Token()
				mu.Unlock()
				grants.Add(1)
				inside.Add(-1)
				if err := l.Release(); err != nil {
					t.Error(err)
				}
				l.Close()
			}
		}()
	}
	wg.Wait()
	if grants.Load() < 4 {
		t.Fatalf("only %d grants", grants.Load())
	}
}

// TestLeaseCrossProcess: a child process holds the lease; we conflict and
// see it as the holder; once it is killed we take the lease over at once.
func TestLeaseCrossProcess(t *testing.T) {
	f := joinForLeases(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildHolder$")
	cmd.Env = append(os.Environ(), "ORBIT_GO_CHILD="+f.Name)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held") {
		t.Fatalf("child: %q %v", line, err)
	}
	if _, err := f.Claim("leader", time.Minute); !errors.Is(err, StatusConflict) {
		t.Fatalf("claim while the child holds it: %v", err)
	}
	h, ok, _ := f.Holder("leader")
	if !ok || h.PID != uint32(cmd.Process.Pid) {
		t.Fatalf("holder %+v, child pid %d", h, cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	l, err := f.Claim("leader", time.Minute) // its TTL is a minute away: liveness decides
	if err != nil {
		t.Fatalf("claim after the holder died: %v", err)
	}
	defer l.Close()
	if l.Token() <= h.Token {
		t.Fatalf("token %d after %d", l.Token(), h.Token)
	}
}

func TestChildHolder(t *testing.T) {
	name := os.Getenv("ORBIT_GO_CHILD")
	if name == "" {
		t.Skip("child role only")
	}
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Claim("leader", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held\n")
	time.Sleep(time.Minute) // killed by the parent
	l.Close()
}

// TestLeaseFinalizer: an unreachable lease is released by its finalizer.
func TestLeaseFinalizer(t *testing.T) {
	f := joinForLeases(t)
	func() {
		if _, err := f.Claim("dropped", time.Minute); err != nil {
			t.Fatal(err)
		}
	}()
	for i := 0; i < 100; i++ {
		runtime.GC()
		if _, ok, _ := f.Holder("dropped"); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the finalizer never released the lease")
}

func TestHeartbeats(t *testing.T) {
	f := joinForLeases(t)
	for i := 0; i < 3; i++ {
		if err := f.Heartbeat(); err != nil {
			t.Fatal(err)
		}
	}
	hbs, err := f.Heartbeats()
	if err != nil {
		t.Fatal(err)
	}
	var mine *Heartbeat
	for i := range hbs {
		if hbs[i].NodeID == f.NodeID() {
			mine = &hbs[i]
		}
	}
	if mine == nil || !mine.Member || mine.PID != uint32(os.Getpid()) || mine.State != HeartbeatFresh ||
		mine.BeatsInHistory < 3 || mine.State.String() != "fresh" {
		t.Fatalf("heartbeats %+v", hbs)
	}
}

func BenchmarkLeaseClaimRelease(b *testing.B) {
	f := joinForLeases(b)
	for i := 0; i < b.N; i++ {
		l, err := f.Claim("bench", time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(); err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}

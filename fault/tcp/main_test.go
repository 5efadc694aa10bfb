package tcp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives the tests: the
// embedded server, its proxies and their connections must all be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoServer is an upstream on a free loopback port that echoes lines
// back; it is stopped, and its connections closed, when t ends.
func echoServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo sends one line on c and reads it back.
func echo(c net.Conn, line string) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo: got " + got + ", want " + line)
	}
	return nil
}

// dialEcho dials addr and checks a line goes through.
func dialEcho(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, "ping")
}

// proxyState reads proxy name from the API at api.
func proxyState(t testing.TB, api, name string) *toxiclient.Proxy {
	t.Helper()
	p, err := toxiclient.NewClient(api).Proxy(name)
	if err != nil {
		t.Fatalf("read proxy %s: %v", name, err)
	}
	return p
}

func toxicNames(p *toxiclient.Proxy) []string {
	names := []string{}
	for _, tx := range p.ActiveToxics {
		names = append(names, tx.Name)
	}
	return names
}

// deadPID is the pid of a process that has exited.
func deadPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	return cmd.Process.Pid
}

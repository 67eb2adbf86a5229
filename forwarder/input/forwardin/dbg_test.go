package forwardin
import ("testing";"time";"log/slog";"os";"net";"github.com/fluent/fluent-logger-golang/fluent")
func TestDbg(t *testing.T){
	fs := newFakeSink()
	srv, _ := New(Config{}, fs, slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ln, _ := net.Listen("tcp","127.0.0.1:0")
	go srv.Serve(ln)
	h, p := hostPort(t, ln.Addr().String())
	l, _ := fluent.New(fluent.Config{FluentHost:h, FluentPort:p, RequestAck:true, MarshalAsJSON:true, Timeout: time.Second, ReadTimeout: time.Second, MaxRetry:1})
	for i:=0;i<2;i++ { t.Log(l.PostWithTime("td.db1.tbl1", time.Unix(1700000000,0), map[string]any{"i":i})) }
}

package output

import "runtime"

func runtimeGosched() { runtime.Gosched() }

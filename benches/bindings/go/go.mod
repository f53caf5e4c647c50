module orbit-bench-bindings

go 1.21

require orbit v0.0.0

replace orbit => ../../../bindings/go

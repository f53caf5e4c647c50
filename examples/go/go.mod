module orbit-tour

go 1.21

require orbit v0.0.0

// The binding lives in the orbit repository; point this at your checkout.
replace orbit => ../../bindings/go

module orbit

go 1.21

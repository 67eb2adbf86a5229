// Command placeholder stands in for a function whose package does not build
// yet, so the deployment can still be tested.
package main

func main() {}

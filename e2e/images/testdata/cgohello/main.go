// Command cgohello is a cgo program: its image proves that Build carries the shared libraries
// and the dynamic loader a cgo binary needs.
package main

/*
#include <stdio.h>
static void hello(void) { printf("hello from cgo\n"); fflush(stdout); }
*/
import "C"

func main() { C.hello() }

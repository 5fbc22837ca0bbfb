#include <stdio.h>
int main(void) { puts("rampart: under construction"); return 0; }

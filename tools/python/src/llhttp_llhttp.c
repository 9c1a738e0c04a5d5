#include "llhttp_quiet.h"
#include "/usr/share/llhttp/llhttp.c"

/* `ringfetch demo` and `ringfetch serve`. */
#ifndef RF_TOOLS_DEMO_H
#define RF_TOOLS_DEMO_H

/* Both return the process exit status. */
int rf_demo_main(int argc, char **argv);
int rf_serve_main(int argc, char **argv);

#endif

// teesplit: one CLI, one subcommand per job (cli.h).
#include "tools/teesplit/cli.h"

int main(int argc, char** argv) {
  return teesplit::cli_main(argc, argv);
}

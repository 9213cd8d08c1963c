// `teesplit data SPEC [options]`: summarises a data set (rows, class counts, input
// shape, tabular feature layout) and prints the first N encoded samples.
#pragma once

namespace teesplit {

// argv[0] is the subcommand name ("data"); the arguments follow. Returns 0 on success,
// 1 when the data cannot be read (message on stderr), 2 for a usage error.
int data_main(int argc, char** argv);

}  // namespace teesplit

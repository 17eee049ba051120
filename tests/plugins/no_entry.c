/*
 * no_entry: a test shared object that exports no floodgate entry point.
 */
int fg_test_no_entry;

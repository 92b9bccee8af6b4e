// Placeholder until the CLI lands (same session); keeps the tree building for helpers.
int main() { return 1; }

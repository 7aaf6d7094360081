// faiss-rebuild: the ops CLI (placeholder until the commands land).
#include <cstdio>

int main() {
  std::fprintf(stderr, "faiss-rebuild: not implemented yet\n");
  return 1;
}

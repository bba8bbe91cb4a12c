/* A UDP echo server for the published-port tests: answers every datagram on
 * 0.0.0.0:<port> with "echo:" and the datagram. Built static by the test, copied
 * into a busybox container. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udpecho PORT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("udpecho: bind");
        return 1;
    }
    for (;;) {
        char buf[2048];
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            continue;
        memcpy(buf, "echo:", 5);
        sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr *)&peer, len);
    }
}

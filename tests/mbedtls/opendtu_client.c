/*
 * An MQTT client that connects the way OpenDTU does, built by the tests against Debian's
 * libmbedtls-dev (2.28, the line ESP-IDF 4.4 ships, which OpenDTU's firmware runs).
 *
 * OpenDTU's espMqttClientSecure goes through arduino-esp32's WiFiClientSecure
 * (libraries/WiFiClientSecure/src/ssl_client.cpp, start_ssl_client): with a root CA set it
 * configures MBEDTLS_SSL_VERIFY_REQUIRED and calls mbedtls_ssl_set_hostname() with the host
 * name typed into the MQTT settings. This client does the same, connects to an address of its
 * own (the test's loopback broker) and sends CONNECT as OpenDTU does (MQTT 3.1.1, clean session,
 * the last will `<prefix>dtu/status` = "offline", QoS 2 per include/defaults.h MQTT_LWT_QOS),
 * then publishes "online" to the will topic as src/MqttSettings.cpp onMqttConnect does.
 *
 * Usage: opendtu_client ADDRESS PORT HOSTNAME CA_FILE USER CLIENT_ID PREFIX RETAIN [--stdin]
 *   The password is read from the environment (MQTT_PASSWORD), never from the command line.
 *   MBEDTLS_CIPHERSUITES (optional, comma-separated mbedTLS names) limits the suites offered to
 *   those an ESP-IDF build enables; unset, every suite of Debian's build is offered.
 *   --stdin: then publish every line "topic-below-prefix<TAB>payload" from stdin at QoS 0 with
 *   the RETAIN flag (0 or 1), as src/MqttSettings.cpp publish() does.
 * Prints one line: "CONNACK 0", or "TLS <error>" / "CONNACK <code>" on failure.
 * Exit: 0 accepted; 2 TLS failed (certificate or name); 3 CONNACK refused; 1 anything else.
 */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mbedtls_ssl_context ssl;

static int write_all(const unsigned char *data, size_t length)
{
    while (length > 0) {
        int ret = mbedtls_ssl_write(&ssl, data, length);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (ret < 0)
            return ret;
        data += ret;
        length -= (size_t)ret;
    }
    return 0;
}

static int read_exact(unsigned char *data, size_t length)
{
    while (length > 0) {
        int ret = mbedtls_ssl_read(&ssl, data, length);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (ret <= 0)
            return ret == 0 ? -1 : ret;
        data += ret;
        length -= (size_t)ret;
    }
    return 0;
}

/* A growing buffer for one MQTT packet. */
struct packet {
    unsigned char *data;
    size_t length, capacity;
};

static void put(struct packet *p, const void *data, size_t length)
{
    if (p->length + length > p->capacity) {
        p->capacity = (p->length + length) * 2;
        p->data = realloc(p->data, p->capacity);
        if (p->data == NULL)
            exit(1);
    }
    memcpy(p->data + p->length, data, length);
    p->length += length;
}

static void put_string(struct packet *p, const char *text, size_t length)
{
    unsigned char size[2] = {(unsigned char)(length >> 8), (unsigned char)(length & 0xff)};
    put(p, size, 2);
    put(p, text, length);
}

/* Fixed header (type and flags, remaining length) in front of the body, then send it. */
static int send_packet(unsigned char first, const struct packet *body)
{
    unsigned char header[5];
    size_t used = 0, remaining = body->length;
    header[used++] = first;
    do {
        unsigned char digit = remaining % 128;
        remaining /= 128;
        header[used++] = digit | (remaining > 0 ? 0x80 : 0);
    } while (remaining > 0);
    int ret = write_all(header, used);
    return ret != 0 ? ret : write_all(body->data, body->length);
}

static int publish(const char *prefix, const char *subtopic, size_t subtopic_length,
                   const char *payload, size_t payload_length, int retain)
{
    struct packet body = {0};
    size_t prefix_length = strlen(prefix);
    char *topic = malloc(prefix_length + subtopic_length);
    if (topic == NULL)
        return -1;
    memcpy(topic, prefix, prefix_length);
    memcpy(topic + prefix_length, subtopic, subtopic_length);
    put_string(&body, topic, prefix_length + subtopic_length);
    put(&body, payload, payload_length);
    int ret = send_packet(0x30 | (retain ? 1 : 0), &body);
    free(topic);
    free(body.data);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: %s ADDRESS PORT HOSTNAME CA_FILE USER CLIENT_ID PREFIX RETAIN"
                        " [--stdin]\n", argv[0]);
        return 1;
    }
    const char *address = argv[1], *port = argv[2], *hostname = argv[3], *ca_file = argv[4];
    const char *user = argv[5], *client_id = argv[6], *prefix = argv[7];
    int retain = atoi(argv[8]);
    int from_stdin = argc > 9 && strcmp(argv[9], "--stdin") == 0;
    const char *password = getenv("MQTT_PASSWORD");
    if (password == NULL)
        password = "";

    mbedtls_net_context net;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    char error[200];
    int ret;

    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);

    if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0
        || (ret = mbedtls_x509_crt_parse_file(&ca, ca_file)) != 0) {
        mbedtls_strerror(ret, error, sizeof error);
        printf("SETUP %s\n", error);
        return 1;
    }
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    static int suites[32];
    const char *wanted = getenv("MBEDTLS_CIPHERSUITES");
    if (wanted != NULL && *wanted) {
        char names[1024];
        int count = 0;
        snprintf(names, sizeof names, "%s", wanted);
        for (char *name = strtok(names, ","); name != NULL && count < 31; name = strtok(NULL, ",")) {
            if ((suites[count++] = mbedtls_ssl_get_ciphersuite_id(name)) == 0) {
                printf("SETUP unknown ciphersuite %s\n", name);
                return 1;
            }
        }
        suites[count] = 0;
        mbedtls_ssl_conf_ciphersuites(&conf, suites);
    }
    if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0
        || (ret = mbedtls_ssl_set_hostname(&ssl, hostname)) != 0
        || (ret = mbedtls_net_connect(&net, address, port, MBEDTLS_NET_PROTO_TCP)) != 0) {
        mbedtls_strerror(ret, error, sizeof error);
        printf("SETUP %s\n", error);
        return 1;
    }
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    while ((ret = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
            char flags[512] = "";
            uint32_t verify = mbedtls_ssl_get_verify_result(&ssl);
            if (verify != 0 && verify != (uint32_t)-1)
                mbedtls_x509_crt_verify_info(flags, sizeof flags, "", verify);
            for (char *c = flags; *c; c++)
                if (*c == '\n')
                    *c = ' ';
            mbedtls_strerror(ret, error, sizeof error);
            printf("TLS %s; %s\n", error, flags);
            return 2;
        }
    }

    /* CONNECT: MQTT 3.1.1, clean session, will with QoS 2 and the retain setting. */
    char will_topic[256];
    snprintf(will_topic, sizeof will_topic, "%sdtu/status", prefix);
    struct packet body = {0};
    unsigned char flags = 0x02 | 0x04 | (2 << 3) | (retain ? 0x20 : 0);
    if (*user)
        flags |= 0x80 | 0x40;
    unsigned char variable[] = {0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 15};
    put(&body, variable, sizeof variable);
    put_string(&body, client_id, strlen(client_id));
    put_string(&body, will_topic, strlen(will_topic));
    put_string(&body, "offline", 7);
    if (*user) {
        put_string(&body, user, strlen(user));
        put_string(&body, password, strlen(password));
    }
    unsigned char connack[4];
    if ((ret = send_packet(0x10, &body)) != 0 || (ret = read_exact(connack, 4)) != 0) {
        printf("CONNECT failed: the broker closed the connection (%d)\n", ret);
        return 1;
    }
    free(body.data);
    printf("CONNACK %d\n", connack[3]);
    fflush(stdout);
    if (connack[0] != 0x20 || connack[3] != 0)
        return 3;

    publish(prefix, "dtu/status", 10, "online", 6, retain);
    if (from_stdin) {
        char *line = NULL;
        size_t size = 0;
        ssize_t length;
        while ((length = getline(&line, &size, stdin)) > 0) {
            if (line[length - 1] == '\n')
                line[--length] = '\0';
            char *tab = memchr(line, '\t', (size_t)length);
            if (tab == NULL)
                continue;
            if (publish(prefix, line, (size_t)(tab - line), tab + 1,
                        (size_t)(length - (tab - line) - 1), retain) != 0) {
                printf("PUBLISH failed\n");
                return 1;
            }
        }
        free(line);
    }
    unsigned char disconnect[2] = {0xe0, 0};
    write_all(disconnect, 2);
    mbedtls_ssl_close_notify(&ssl);
    mbedtls_net_free(&net);
    return 0;
}

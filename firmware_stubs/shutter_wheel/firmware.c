/* firmware.c - shutter + filter-wheel controller firmware (portable C99).
 *
 * Serial protocol in the style of the Thorlabs FW102C filter wheel and SC10 shutter
 * controller: lower-case commands ending in CR (or LF); the controller echoes the command,
 * answers (if anything) on its own CR-terminated line, then prompts "> ".
 *
 * State machines (each part): SETTLED -> MOVING -> SETTLING -> SETTLED, any -> FAULT on a
 * timeout; the wheel also HOMES at start-up and after "home" or "clr".
 */
#include "firmware.h"

#include <string.h>

#include "hal.h"

#define POSITIONS 6
#define STEPS_PER_POSITION 8
#define STEPS_PER_TURN (POSITIONS * STEPS_PER_POSITION)
#define STEP_MS 2u                 /* one motor step every 2 ms                       */
#define WHEEL_SETTLE_MS 20u        /* ring-down after the last step                   */
#define SHUTTER_SETTLE_MS 10u      /* blade bounce after the sensor agrees            */
#define SHUTTER_TIMEOUT_MS 50u     /* sensor must follow the drive within this        */
#define HOME_MAX_STEPS (2 * STEPS_PER_TURN)
#define LINE_MAX 64
#define REPLY_MAX 160

enum state { SETTLED, MOVING, SETTLING, HOMING, FAULT };
enum error { ERR_NONE = 0, ERR_SHUTTER_TIMEOUT = 1, ERR_WHEEL_HOME = 2, ERR_WHEEL_INDEX = 3 };

static struct {
    enum state state;
    int step;           /* 0 .. STEPS_PER_TURN-1 once homed                   */
    int target;         /* step to reach                                       */
    int position;       /* last settled position 1..POSITIONS, 0 = unknown     */
    int home_steps;     /* steps taken while homing                            */
    uint32_t t;         /* time of the last step or state change               */
} wheel;

static struct {
    enum state state;
    uint8_t open;       /* commanded: 1 = open                                  */
    uint32_t t;
} shutter;

static enum error fault_code;
static char line[LINE_MAX + 1];
static size_t line_len;
static uint8_t line_overflow;
static char reply[REPLY_MAX];
static size_t reply_len;

static void put(const char *text) {
    size_t n = strlen(text);
    if (n > REPLY_MAX - reply_len) n = REPLY_MAX - reply_len;
    memcpy(reply + reply_len, text, n);
    reply_len += n;
}

static void put_uint(unsigned value) {
    char digits[11];
    int i = 0;
    do { digits[i++] = (char)('0' + value % 10u); value /= 10u; } while (value && i < 10);
    while (i) { char c[2]; c[0] = digits[--i]; c[1] = 0; put(c); }
}

static uint8_t elapsed(uint32_t since, uint32_t ms) { return (uint32_t)(hal_millis() - since) >= ms; }

static void fail(enum error code) {
    fault_code = code;
    if (code == ERR_SHUTTER_TIMEOUT) {
        shutter.state = FAULT;
        shutter.open = 0;
        hal_gpio_write(PIN_SHUTTER_DRIVE, 0); /* fail safe: closed */
    } else {
        wheel.state = FAULT;
        wheel.position = 0;
    }
}

/* ---- shutter ---------------------------------------------------------------------------- */

static void shutter_command(uint8_t open) {
    shutter.open = open;
    shutter.state = MOVING;
    shutter.t = hal_millis();
    hal_gpio_write(PIN_SHUTTER_DRIVE, open);
}

static void shutter_poll(void) {
    uint8_t agrees = hal_gpio_read(PIN_SHUTTER_SENSE) == shutter.open;
    switch (shutter.state) {
    case MOVING:
        if (agrees) { shutter.state = SETTLING; shutter.t = hal_millis(); }
        else if (elapsed(shutter.t, SHUTTER_TIMEOUT_MS)) fail(ERR_SHUTTER_TIMEOUT);
        break;
    case SETTLING:
        if (!agrees) { shutter.state = MOVING; shutter.t = hal_millis(); }
        else if (elapsed(shutter.t, SHUTTER_SETTLE_MS)) shutter.state = SETTLED;
        break;
    case SETTLED:
        if (!agrees) fail(ERR_SHUTTER_TIMEOUT); /* the blade moved on its own */
        break;
    default:
        break;
    }
}

/* ---- wheel ------------------------------------------------------------------------------ */

static void wheel_pulse(uint8_t forward) {
    hal_gpio_write(PIN_WHEEL_DIR, forward);
    hal_gpio_write(PIN_WHEEL_STEP, 1);
    hal_gpio_write(PIN_WHEEL_STEP, 0);
    wheel.t = hal_millis();
}

static void wheel_home(void) {
    wheel.state = HOMING;
    wheel.home_steps = 0;
    wheel.position = 0;
    wheel.t = hal_millis();
}

static void wheel_poll(void) {
    switch (wheel.state) {
    case HOMING:
        if (!elapsed(wheel.t, STEP_MS)) break;
        if (hal_gpio_read(PIN_WHEEL_INDEX)) {
            wheel.step = 0;
            wheel.target = 0;
            wheel.state = SETTLING;
        } else if (wheel.home_steps++ >= HOME_MAX_STEPS) {
            fail(ERR_WHEEL_HOME);
        } else {
            wheel_pulse(1);
        }
        break;
    case MOVING:
        if (!elapsed(wheel.t, STEP_MS)) break;
        if (wheel.step == wheel.target) { wheel.state = SETTLING; break; }
        {
            int ahead = (wheel.target - wheel.step + STEPS_PER_TURN) % STEPS_PER_TURN;
            uint8_t forward = ahead <= STEPS_PER_TURN / 2;
            wheel_pulse(forward);
            wheel.step = (wheel.step + (forward ? 1 : STEPS_PER_TURN - 1)) % STEPS_PER_TURN;
        }
        if (hal_gpio_read(PIN_WHEEL_INDEX) != (wheel.step == 0)) fail(ERR_WHEEL_INDEX);
        break;
    case SETTLING:
        if (elapsed(wheel.t, WHEEL_SETTLE_MS)) {
            wheel.state = SETTLED;
            wheel.position = wheel.step / STEPS_PER_POSITION + 1;
        }
        break;
    default:
        break;
    }
}

/* ---- commands --------------------------------------------------------------------------- */

static int parse_int(const char *text, int *out) {
    int value = 0;
    if (!*text) return 0;
    for (; *text; ++text) {
        if (*text < '0' || *text > '9' || value > 100000) return 0;
        value = value * 10 + (*text - '0');
    }
    *out = value;
    return 1;
}

static const char *status_text(void) {
    if (wheel.state == FAULT || shutter.state == FAULT) return "FAULT";
    if (wheel.state == SETTLED && shutter.state == SETTLED) return "SETTLED";
    return "MOVING";
}

/* Execute one command; the answer line (without terminator) goes into reply, or an error. */
static void execute(const char *cmd) {
    int n;
    if (!strcmp(cmd, "*idn?")) put("SPECSIM SWC102 shutter + filter wheel controller v1.0");
    else if (!strcmp(cmd, "pos?")) put_uint((unsigned)wheel.position);
    else if (!strcmp(cmd, "pcount?")) put_uint(POSITIONS);
    else if (!strcmp(cmd, "stat?")) put(status_text());
    else if (!strcmp(cmd, "err?")) put_uint((unsigned)fault_code);
    else if (!strcmp(cmd, "ens?")) put_uint(shutter.open);
    else if (!strncmp(cmd, "pos=", 4)) {
        if (!parse_int(cmd + 4, &n) || n < 1 || n > POSITIONS) put("CMD_ARG_INVALID");
        else if (wheel.state == FAULT) put("CMD_FAULT");
        else if (wheel.state != SETTLED) put("CMD_BUSY");
        else {
            wheel.target = (n - 1) * STEPS_PER_POSITION;
            wheel.state = MOVING;
        }
    } else if (!strcmp(cmd, "ens") || !strncmp(cmd, "ens=", 4)) {
        if (cmd[3] == '=' && (!parse_int(cmd + 4, &n) || n > 1)) put("CMD_ARG_INVALID");
        else if (shutter.state == FAULT) put("CMD_FAULT");
        else shutter_command(cmd[3] == '=' ? (uint8_t)n : (uint8_t)!shutter.open);
    } else if (!strcmp(cmd, "home")) {
        if (wheel.state == MOVING || wheel.state == HOMING) put("CMD_BUSY");
        else if (wheel.state == FAULT) put("CMD_FAULT");
        else wheel_home();
    } else if (!strcmp(cmd, "clr")) {
        if (wheel.state == FAULT) wheel_home();
        if (shutter.state == FAULT) shutter_command(0);
        fault_code = ERR_NONE;
    } else put("CMD_NOT_DEFINED");
}

static void respond(const char *cmd) {
    reply_len = 0;
    put(cmd);
    put("\r");
    {
        size_t mark = reply_len;
        if (line_overflow) put("CMD_TOO_LONG");
        else execute(cmd);
        if (reply_len > mark) put("\r");
    }
    put("> ");
    hal_uart_write((const uint8_t *)reply, reply_len);
}

static void take(uint8_t byte) {
    if (byte == '\r' || byte == '\n') {
        if (line_len || line_overflow) {
            line[line_len] = 0;
            respond(line);
        }
        line_len = 0;
        line_overflow = 0;
    } else if (line_len < LINE_MAX) {
        line[line_len++] = (char)byte;
    } else {
        line_overflow = 1;
    }
}

void fw_init(void) {
    hal_gpio_write(PIN_SHUTTER_DRIVE, 0);
    hal_gpio_write(PIN_WHEEL_STEP, 0);
    shutter.open = 0;
    shutter.state = SETTLED;
    fault_code = ERR_NONE;
    wheel_home();
}

int fw_idle(void) {
    return (shutter.state == SETTLED || shutter.state == FAULT) && (wheel.state == SETTLED || wheel.state == FAULT);
}

void fw_poll(void) {
    uint8_t buf[32];
    size_t i, n = hal_uart_read(buf, sizeof buf);
    for (i = 0; i < n; ++i) take(buf[i]);
    shutter_poll();
    wheel_poll();
}

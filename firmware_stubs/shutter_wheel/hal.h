/* hal.h - the hardware abstraction the shutter/filter-wheel firmware runs on.
 *
 * The firmware (firmware.c) uses only this interface and the C99 freestanding headers, so the
 * same source builds for the host (hal_host.c: a pty for the UART, GPIO reported to the
 * simulator) or for a microcontroller (a HAL file mapping these calls onto its registers).
 */
#ifndef SWC_HAL_H
#define SWC_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Logical pins; a HAL maps them onto its ports. */
enum {
    PIN_SHUTTER_DRIVE = 0, /* out: 1 energises the solenoid (shutter open)       */
    PIN_WHEEL_STEP = 1,    /* out: a rising edge moves the wheel motor one step   */
    PIN_WHEEL_DIR = 2,     /* out: 1 = forward (increasing position)              */
    PIN_SHUTTER_SENSE = 3, /* in:  1 while the shutter blade is open              */
    PIN_WHEEL_INDEX = 4    /* in:  1 while the wheel sits at position 1           */
};

/* Read up to max received bytes without blocking; returns how many were read. */
size_t hal_uart_read(uint8_t *buf, size_t max);
/* Send one complete response. */
void hal_uart_write(const uint8_t *buf, size_t len);
/* Drive an output pin. */
void hal_gpio_write(uint8_t pin, uint8_t level);
/* Sample an input pin (0 or 1). */
uint8_t hal_gpio_read(uint8_t pin);
/* Milliseconds since start; wraps after 49 days (the firmware subtracts, so wrap is harmless). */
uint32_t hal_millis(void);

#endif

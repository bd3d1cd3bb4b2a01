"""The words of the sample deployment: a product manual, a returns policy, and what users ask."""

from __future__ import annotations

MANUAL_NAME = "lumen-s2-manual.md"
RETURNS_NAME = "returns-policy.md"

MANUAL = """\
# Lumen S2 Smart Thermostat: User Manual

## 1. What is in the box
The box holds the Lumen S2 display unit, a wall plate, a trim plate for covering old paint marks,
four wall screws with anchors, wire labels, a C-wire adapter (the Power Link) and this manual.
The display is 3.5 inches wide and draws 1.2 W in normal use.

## 2. Before you install
Turn the power to your heating and cooling system off at the breaker before you touch any wire.
The Lumen S2 works with 24 V systems: gas and oil furnaces, boilers, heat pumps with auxiliary heat
and central air conditioning. It does not work with line-voltage (120 V or 240 V) baseboard
heaters. If your old thermostat has thick wires joined with wire nuts, it is probably line voltage:
stop and call an installer.

## 3. Wiring
Label each wire with the sticker that matches the letter on your old thermostat's terminal before
you disconnect it. Common terminals are R (power), C (common), W (heat), Y (cooling), G (fan) and
O/B (heat pump reversing valve). If there is no C wire, install the Power Link at the furnace
control board: connect its four leads to R, C, W and Y there, then connect the thermostat's C and
R terminals as usual. Without a C wire or the Power Link the S2 will run on its battery for about
two days and then show error E4.

## 4. Wi-Fi setup
The Lumen S2 joins 2.4 GHz Wi-Fi networks (802.11 b/g/n); 5 GHz networks are not supported. Open
the Lumen app, tap Add device, and scan the QR code on the back of the display. If the thermostat
does not appear, hold the dial down for 10 seconds until the ring blinks blue to restart pairing.
Networks with a captive portal (hotels, some dormitories) cannot be used.

## 5. Schedules and Eco mode
A schedule has up to eight set points a day. The S2 learns from manual changes during the first
week and proposes a schedule that you can accept in the app. Eco mode lowers the heating set
point to 16 C (61 F) and raises the cooling set point to 28 C (82 F) when nobody is home, as
detected by the phones you link in the app. Eco temperatures can be changed under Settings, Eco.

## 6. Error codes
- E1: the thermostat lost power from the R wire. Check the breaker and the furnace door switch.
- E2: the heat stage did not start within 10 minutes. Check the W wire and the furnace filter.
- E3: the cooling stage did not start. Check the Y wire and the outdoor unit's breaker.
- E4: the battery is low because there is no steady power. Add a C wire or the Power Link.
- E5: the temperature sensor reads outside -10 C to 50 C. Restart the thermostat; if it persists,
  contact support for a replacement.
- E6: the Wi-Fi password was rejected. Re-enter it in the app.
- E7: no internet connection for 24 hours; schedules keep running offline.
- E8: the firmware update failed. The S2 retries at 3 a.m.; keep it powered.
- E9: a heat pump is wired without an O/B wire. Connect O/B or set the system type to conventional.

## 7. Resetting
A restart keeps your settings: hold the dial down for 10 seconds. A factory reset erases the
schedule, Wi-Fi and account link: open Settings, Reset, Factory reset, and confirm with the dial.

## 8. Warranty
The Lumen S2 carries a two-year limited warranty from the date of purchase, extended to three
years when a certified installer registers the installation. The warranty covers defects in
materials and workmanship, not damage from incorrect wiring or line-voltage connection.

## 9. Specifications
Operating range 0 C to 40 C, humidity 10 to 90 percent non-condensing. Temperature accuracy
plus or minus 0.5 C. Battery: rechargeable lithium-ion, 1,000 mAh. Dimensions 84 x 84 x 27 mm.
"""

RETURNS = """\
# Returns and cancellations

Orders can be cancelled free of charge until they ship. Once an order has shipped, it can be
returned within 30 days of delivery for a full refund, if the product is in its original box with
all parts. Opened thermostats that were installed can be returned within 30 days with a 10 percent
restocking fee. Refunds go back to the original payment method within 5 to 7 business days after
the return arrives at our warehouse. Return shipping is free for defective products; otherwise a
label costs 6.95. Gift cards are not refundable.
"""

# (question, the manual section that answers it, the answer the managed assistant gave)
SUPPORT_QA: list[tuple[str, str, str]] = [
    (
        "Does the S2 work with my electric baseboard heaters?",
        "2. Before you install",
        "No. The Lumen S2 works with 24 V systems only; line-voltage (120 V or 240 V) baseboard "
        "heaters are not supported.",
    ),
    (
        "My thermostat shows E4, what does that mean?",
        "6. Error codes",
        "E4 means the battery is low because the thermostat has no steady power. Add a C wire or "
        "install the Power Link adapter at the furnace.",
    ),
    (
        "I don't have a C wire. Can I still install it?",
        "3. Wiring",
        "Yes. Install the included Power Link at the furnace control board, connecting its "
        "leads to R, C, W and Y, then wire the thermostat's C and R terminals as usual.",
    ),
    (
        "Why can't it find my 5 GHz wifi?",
        "4. Wi-Fi setup",
        "The Lumen S2 only joins 2.4 GHz networks (802.11 b/g/n). Use your router's 2.4 GHz band.",
    ),
    (
        "How long is the warranty?",
        "8. Warranty",
        "Two years from the date of purchase, or three years if a certified installer registers "
        "the installation.",
    ),
    (
        "What temperatures does Eco mode use?",
        "5. Schedules and Eco mode",
        "By default Eco mode holds 16 C (61 F) for heating and 28 C (82 F) for cooling; you can "
        "change them under Settings, Eco.",
    ),
    (
        "How do I factory reset it?",
        "7. Resetting",
        "Open Settings, Reset, Factory reset, and confirm with the dial. This erases the schedule, "
        "Wi-Fi and account link.",
    ),
    (
        "The display says E2 and the house is cold.",
        "6. Error codes",
        "E2 means the heat stage did not start within 10 minutes. Check the W wire and your "
        "furnace filter.",
    ),
    (
        "Can I use it in a hotel room with a login page wifi?",
        "4. Wi-Fi setup",
        "No. Networks with a captive portal cannot be used.",
    ),
    (
        "What is the accuracy of the temperature sensor?",
        "9. Specifications",
        "It is accurate to plus or minus 0.5 C.",
    ),
    (
        "How do I restart pairing?",
        "4. Wi-Fi setup",
        "Hold the dial down for 10 seconds until the ring blinks blue.",
    ),
    (
        "Does it keep running my schedule without internet?",
        "6. Error codes",
        "Yes. After 24 hours offline it shows E7, but schedules keep running.",
    ),
]

FOLLOW_UPS: list[tuple[str, str]] = [
    (
        "Thanks! And where do I find those settings?",
        "In the Lumen app, open the thermostat, then Settings.",
    ),
    ("Great, that fixed it.", "Glad to hear it. Anything else I can help with?"),
    (
        "Is that covered by the warranty?",
        "Defects in materials and workmanship are covered for two years; damage from incorrect "
        "wiring is not.",
    ),
]

PRODUCTS = ["Lumen S2 thermostat", "Lumen Power Link", "Lumen room sensor (2-pack)", "Trim plate"]
ORDER_STATES = ["processing", "shipped", "delivered", "cancelled"]

ORDER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up the status, items and tracking of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "e.g. LU-10234"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_order",
            "description": "Cancel an order that has not shipped yet.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "reason": {"type": "string", "enum": ["changed_mind", "duplicate", "other"]},
                },
                "required": ["order_id", "reason"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "start_return",
            "description": "Start a return for a delivered order and email a label.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "defective": {"type": "boolean"},
                },
                "required": ["order_id", "defective"],
                "additionalProperties": False,
            },
        },
    },
]

TRIAGE_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "ticket_triage",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "category": {
                    "type": "string",
                    "enum": ["billing", "technical", "shipping", "other"],
                },
                "priority": {"type": "string", "enum": ["low", "normal", "urgent"]},
                "summary": {"type": "string"},
            },
            "required": ["category", "priority", "summary"],
            "additionalProperties": False,
        },
    },
}

# (email text, category, priority, summary)
TRIAGE_EMAILS: list[tuple[str, str, str, str]] = [
    (
        "I was charged twice for order LU-20411, please refund one of the charges.",
        "billing",
        "normal",
        "Customer charged twice for one order; wants one refund.",
    ),
    (
        "Our office is at 9 C, the thermostat shows E2 and nobody can work. Please help today!",
        "technical",
        "urgent",
        "Heating failed with E2 in an office; urgent.",
    ),
    (
        "The tracking link for my package has not updated in six days.",
        "shipping",
        "normal",
        "Tracking not updated for six days.",
    ),
    (
        "Do you have a dealer program for installers in Portugal?",
        "other",
        "low",
        "Asks about an installer program in Portugal.",
    ),
    (
        "My invoice shows the wrong VAT number, can you reissue it?",
        "billing",
        "low",
        "Invoice needs reissuing with the right VAT number.",
    ),
    (
        "After the update last night the display is black and the furnace runs nonstop.",
        "technical",
        "urgent",
        "Display black after update; furnace runs nonstop.",
    ),
]

UNICODE_MESSAGES = [
    "Bonjour ! Le thermostat affiche « E6 » après avoir changé le mot de passe Wi-Fi. 🤔",
    "مرحبا، هل يعمل الجهاز مع المضخة الحرارية؟",
    "温控器显示E5，怎么办？",  # noqa: RUF001 - Chinese punctuation on purpose
    "Zażółć gęślą jaźń: czy S2 działa z kotłem gazowym? 🔥🏠",
]
